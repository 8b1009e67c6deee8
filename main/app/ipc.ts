// The Electron transport of the contract: ipcMain handlers in front of the engine, and the
// engine's events forwarded to the window. Every call is checked twice: the sender frame must
// be our own window's main frame showing our own page (security.ts isTrustedSender), and the
// arguments must parse with the command's schema (common/dispatch.ts, the same code the web
// UI uses).
import { dialog, type BrowserWindow, type IpcMain, type IpcMainInvokeEvent } from 'electron';
import { events, type EventName, type SettingUpdate } from '../../common/contract.js';
import { eventChannel, invokeChannel, pickFolderChannel } from '../../preload/channels.js';
import { dispatchCommand } from '../../common/dispatch.js';
import type { Engine } from '../engine/api.js';
import type { Logger } from '../engine/ports.js';
import { isTrustedSender, type IpcSender } from './security.js';

export function senderOf(event: IpcMainInvokeEvent, window: BrowserWindow | null): IpcSender {
  const frame = event.senderFrame;
  return {
    url: frame?.url ?? null,
    isMainFrame: frame !== null && frame.parent === null,
    fromAppWindow: window !== null && !window.isDestroyed() && event.sender === window.webContents,
  };
}

export interface IpcOptions {
  ipcMain: IpcMain;
  engine: Pick<Engine, 'api' | 'on'>;
  getWindow: () => BrowserWindow | null;
  logger: Logger;
  /** Called after a setting changed successfully (start at login). */
  onSettingChanged?: (update: SettingUpdate) => void;
}

/** Registers the handlers; returns a function that removes them and the event forwarding. */
export function registerIpc(options: IpcOptions): () => void {
  const { ipcMain, engine, getWindow, logger } = options;
  const log = logger.child({ component: 'ipc' });

  ipcMain.handle(invokeChannel, async (event, command: unknown, args: unknown) => {
    if (!isTrustedSender(senderOf(event, getWindow()))) {
      log.warn('IPC call refused: not from the app window', { url: event.senderFrame?.url });
      return {
        ok: false,
        error: {
          name: 'KeepsakeError',
          code: 'invalid_argument',
          message: 'Refused: not the app window.',
          retryable: false,
        },
      };
    }
    const onInvalid = (name: string, problem: string) =>
      log.error('engine result breaks the contract', { command: name, problem });
    const envelope = await dispatchCommand(engine.api, command, args, onInvalid);
    if (envelope.ok && command === 'settings.set')
      options.onSettingChanged?.(args as SettingUpdate);
    return envelope;
  });

  ipcMain.handle(pickFolderChannel, async (event) => {
    const window = getWindow();
    if (!window || !isTrustedSender(senderOf(event, window))) return null;
    const result = await dialog.showOpenDialog(window, {
      title: 'Choose a folder to back up',
      properties: ['openDirectory', 'createDirectory'],
    });
    return result.canceled ? null : (result.filePaths[0] ?? null);
  });

  const unsubscribers = (Object.keys(events) as EventName[]).map((name) =>
    engine.on(name, (payload) => {
      const window = getWindow();
      if (!window || window.isDestroyed()) return;
      window.webContents.send(eventChannel, name, payload);
    }),
  );

  return () => {
    ipcMain.removeHandler(invokeChannel);
    ipcMain.removeHandler(pickFolderChannel);
    for (const unsubscribe of unsubscribers) unsubscribe();
  };
}
