// Builds the renderer to dist/renderer/: index.html (the desktop window and the daemon's web
// UI) and fleet.html (the vault's read-only fleet page, server/fleet-page.ts), two entries
// sharing React and the styles.
// `vite build --config renderer/vite.config.ts --outDir <dir>` overrides the output folder
// (the e2e tests build into a temp dir). Relative asset paths (`base: './'`) so the same
// files load from the desktop app's app:// origin and from the daemon's http:// origin.
// No Node imports here: this file is type-checked with the renderer's config.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  root: new URL('.', import.meta.url).pathname,
  base: './',
  plugins: [react()],
  logLevel: 'warn',
  build: {
    outDir: new URL('../dist/renderer', import.meta.url).pathname,
    emptyOutDir: true,
    target: 'es2022',
    // No inline scripts anywhere: the CSP allows only 'self'.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    rolldownOptions: {
      input: {
        index: new URL('./index.html', import.meta.url).pathname,
        fleet: new URL('./fleet.html', import.meta.url).pathname,
      },
    },
  },
});
