// The Electron transport of the contract: ipcMain handlers in front of the engine, and the
// engine's events forwarded to the window. Every call is checked twice: the sender frame must
// be our own window's main frame showing our own page (security.ts isTrustedSender), and the
// arguments must parse with the command's schema (common/dispatch.ts, the same code the web
// UI uses).
import { dialog, type BrowserWindow, type IpcMain, type IpcMainInvokeEvent } from 'electron';
import {
  commands,
  events,
  type EventName,
  type Settings,
  type SettingUpdate,
} from '../../common/contract.js';
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
  /** Where the desktop keeps the vault token instead of the engine (see token-settings.ts). */
  tokens?: {
    write(token: string | null): void;
    /** The engine's Settings corrected with the token store's facts. */
    adjust(settings: Settings): Settings;
  };
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
    const tokens = options.tokens;
    if (tokens && command === 'settings.set') {
      const update = commands['settings.set'].args.safeParse(args);
      if (update.success && update.data.key === 'vaultToken') {
        const current = await dispatchCommand(engine.api, 'settings.get', {}, onInvalid);
        if (!current.ok) return current;
        const settings = current.value as Settings;
        if (settings.vaultTokenSet.locked) {
          return {
            ok: false,
            error: {
              name: 'KeepsakeError',
              code: 'setting_locked',
              message: 'The vault token is set by policy.',
              retryable: false,
            },
          };
        }
        try {
          tokens.write(update.data.value);
        } catch (err) {
          log.error('could not store the vault token', {
            error: err instanceof Error ? err.name : 'Error',
          });
          return {
            ok: false,
            error: {
              name: 'KeepsakeError',
              code: 'internal',
              message: 'Keepsake could not store the token.',
              retryable: true,
            },
          };
        }
        return { ok: true, value: tokens.adjust(settings) };
      }
    }
    const envelope = await dispatchCommand(engine.api, command, args, onInvalid);
    if (envelope.ok && command === 'settings.set')
      options.onSettingChanged?.(args as SettingUpdate);
    if (envelope.ok && tokens && (command === 'settings.set' || command === 'settings.get')) {
      return { ok: true, value: tokens.adjust(envelope.value as Settings) };
    }
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
