// The desktop shell's security decisions (main/app/security.ts), asserted without Electron:
// window options, CSP, fuses (and that electron-builder.yml sets the same), navigation, the
// IPC sender check and the app:// file mapping.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import {
  appCsp,
  appIndexUrl,
  electronFuses,
  isTrustedSender,
  mayNavigate,
  mayOpenExternally,
  rendererFileFor,
  windowWebPreferences,
} from '../../../main/app/security.js';
import { repoRoot } from '../../support/paths.js';

describe('desktop security settings', () => {
  it('runs the window sandboxed, context-isolated and without Node', () => {
    const prefs = windowWebPreferences('/app/dist/preload/preload.cjs');
    assert.equal(prefs.contextIsolation, true);
    assert.equal(prefs.sandbox, true);
    assert.equal(prefs.nodeIntegration, false);
    assert.equal(prefs.nodeIntegrationInWorker, false);
    assert.equal(prefs.nodeIntegrationInSubFrames, false);
    assert.equal(prefs.webSecurity, true);
    assert.equal(prefs.allowRunningInsecureContent, false);
    assert.equal(prefs.webviewTag, false);
    assert.equal(prefs.experimentalFeatures, false);
    assert.equal(prefs.preload, '/app/dist/preload/preload.cjs');
  });

  it('allows only its own scripts and styles, no network and no framing', () => {
    const directives = new Map(
      appCsp.split(';').map((d) => {
        const [name, ...values] = d.trim().split(/\s+/);
        return [name, values.join(' ')] as const;
      }),
    );
    assert.equal(directives.get('default-src'), "'none'");
    assert.equal(directives.get('script-src'), "'self'");
    assert.equal(directives.get('style-src'), "'self'");
    assert.equal(directives.get('connect-src'), "'none'");
    assert.equal(directives.get('frame-ancestors'), "'none'");
    assert.equal(directives.get('object-src'), "'none'");
    assert.ok(!appCsp.includes('unsafe-'), 'no unsafe-inline or unsafe-eval');
  });

  it('packages with the fuses that stop Electron being used as a Node runtime', () => {
    assert.equal(electronFuses.runAsNode, false);
    assert.equal(electronFuses.enableNodeOptionsEnvironmentVariable, false);
    assert.equal(electronFuses.enableNodeCliInspectArguments, false);
    assert.equal(electronFuses.onlyLoadAppFromAsar, true);
    assert.equal(electronFuses.enableEmbeddedAsarIntegrityValidation, true);
    assert.equal(electronFuses.grantFileProtocolExtraPrivileges, false);
  });

  it('electron-builder.yml sets exactly the fuses of security.ts', () => {
    const yml = readFileSync(join(repoRoot, 'electron-builder.yml'), 'utf8');
    const block = /^electronFuses:\n((?: {2}\w+: \w+\n)+)/m.exec(yml);
    assert.ok(block?.[1], 'electronFuses block present');
    const fromYml: Record<string, boolean> = Object.fromEntries(
      block[1]
        .trim()
        .split('\n')
        .map((line) => {
          const [key, value] = line.trim().split(/:\s*/);
          return [key ?? '', value === 'true'] as const;
        }),
    );
    assert.deepEqual(fromYml, { ...electronFuses });
    assert.match(yml, /^asar: true$/m);
  });

  it('refuses navigation and external opening of anything but its own page and https links', () => {
    assert.equal(mayNavigate(appIndexUrl), true);
    assert.equal(mayNavigate('app://keepsake/index.html#/queue'), true);
    for (const url of [
      'https://evil.example/',
      'file:///etc/passwd',
      'app://other/index.html',
      'javascript:alert(1)',
      'not a url',
    ]) {
      assert.equal(mayNavigate(url), false, url);
    }
    assert.equal(mayOpenExternally('https://example.org/help'), true);
    for (const url of [
      'http://example.org',
      'file:///bin/sh',
      'smb://host/share',
      'javascript:alert(1)',
    ]) {
      assert.equal(mayOpenExternally(url), false, url);
    }
  });

  it('accepts IPC only from the main frame of its own window showing its own page', () => {
    const own = { url: 'app://keepsake/index.html', isMainFrame: true, fromAppWindow: true };
    assert.equal(isTrustedSender(own), true);
    assert.equal(isTrustedSender({ ...own, isMainFrame: false }), false, 'an iframe');
    assert.equal(isTrustedSender({ ...own, fromAppWindow: false }), false, 'another window');
    assert.equal(
      isTrustedSender({ ...own, url: 'https://evil.example/' }),
      false,
      'a navigated-away frame',
    );
    assert.equal(isTrustedSender({ ...own, url: 'file:///tmp/x.html' }), false, 'a local file');
    assert.equal(isTrustedSender({ ...own, url: null }), false, 'a frame that is gone');
  });

  it('maps app:// URLs to files inside the renderer folder only', () => {
    assert.equal(rendererFileFor('app://keepsake/'), 'index.html');
    assert.equal(rendererFileFor('app://keepsake/assets/index-abc.js'), 'assets/index-abc.js');
    for (const url of [
      'app://keepsake/assets/%2e%2e/%2e%2e/secret',
      'app://keepsake/a/..%2f..%2fsecret',
      'app://keepsake/a%5c..%5csecret',
      'app://keepsake/../../etc/passwd',
    ]) {
      const rel = rendererFileFor(url);
      if (rel === null) continue;
      const root = '/srv/renderer';
      assert.ok(resolve(root, rel).startsWith(`${root}/`), `${url} -> ${rel}`);
    }
    assert.equal(rendererFileFor('app://other/index.html'), null);
  });
});
