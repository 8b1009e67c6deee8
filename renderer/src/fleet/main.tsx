// Entry point of the vault's fleet page (renderer/fleet.html, served by server/fleet-page.ts).
// A second Vite entry rather than a route of the desktop bundle: the page talks HTTP to the
// vault with its session cookie and never to the Keepsake contract, so it needs none of the
// desktop UI, and the desktop UI carries none of it.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { FleetPage } from './fleet-page';
import '../styles.css';
import './fleet.css';

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <FleetPage />
    </StrictMode>,
  );
}
