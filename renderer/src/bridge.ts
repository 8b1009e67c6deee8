// Which transport this renderer talks through: the desktop preload's window.keepsake when it
// exists, else the web transport. The bundle is the same in both; only this choice differs.
import type { KeepsakeBridge } from '../../common/contract';
import { createWebBridge } from './web-bridge';

declare global {
  interface Window {
    keepsake?: KeepsakeBridge;
  }
}

export const bridge: KeepsakeBridge = window.keepsake ?? createWebBridge();
export const isDesktop = window.keepsake !== undefined;
