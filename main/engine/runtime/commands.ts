// The handlers of every command in common/contract.ts (KeepsakeApi): each turns an
// already-validated request into calls on the store and the runtime parts, and answers with
// the contract's types. No state of its own.
//
// Invariant: a command that changes what work there is wakes the pumps (kickAll) after the
// change is committed; a command on an unknown id answers not_found, never a crash.
import type {
  ActivityEvent,
  EngineStatus,
  KeepsakeApi,
  Settings,
} from '../../../common/contract.js';
import { KeepsakeError } from '../errors.js';
import type { Clock, SecretStore } from '../ports.js';
import { transitions } from '../pipeline/transitions.js';
import { lockedMessage } from '../../../common/policy.js';
import { applySettingUpdate, isSettingLocked, type SettingsSource } from '../store/settings.js';
import type { FileRecord, Store } from '../store/store.js';
import type { VaultClient } from '../vault/vault-client.js';
import type { DeviceCommands } from '../import/device/device-offers.js';
import type { LibraryCommands } from '../library/library-commands.js';
import type { RestoreCommands } from '../restore/restore-commands.js';
import type { VerifyCommands } from '../verify/verify-commands.js';
import type { FreeUpCommands } from '../free-up/free-up-commands.js';
import type { Folders } from './folders.js';
import type { Pause } from './pause.js';
import type { RuntimePolicy } from './policy.js';
import { toFileRow } from './status.js';

export interface CommandsOptions {
  store: Store;
  clock: Clock;
  settings: () => Settings;
  settingsSource: SettingsSource;
  /** Keeps the vault token a person entered in Settings (used from the next start). */
  secrets: SecretStore;
  pause: Pause;
  folders: Folders;
  status: () => EngineStatus;
  vault: VaultClient | null;
  /** Aborted when the engine closes (cancels a vault call in flight). */
  signal: AbortSignal;
  activity: (event: Omit<ActivityEvent, 'id' | 'at'>) => void;
  kickAll: () => void;
  statusChanged: () => void;
  /** A setting changed that a running part reads once (bandwidth, concurrency). */
  settingChanged: (key: 'bandwidthLimit' | 'concurrency') => void;
  /** verify.run, verify.last, files.receipt (main/engine/verify/verify-commands.ts). */
  verify: VerifyCommands;
  /** restore.devices, .preview, .start, .state (main/engine/restore/restore-commands.ts). */
  restore: RestoreCommands;
  /** freeUp.estimate, .plan, .run (main/engine/free-up/free-up-commands.ts). */
  freeUp: FreeUpCommands;
  /** library.list, .folders, .asset (main/engine/library/library-commands.ts). */
  library: LibraryCommands;
  /** devices.list, .import, .dismiss (main/engine/import/device/device-offers.ts). */
  devices: DeviceCommands;
  /** The organisation's policy: what it locks is refused here ('setting_locked'). */
  policy: RuntimePolicy;
}

export function createCommands(options: CommandsOptions): KeepsakeApi {
  const { store, clock, settings, settingsSource, pause, folders } = options;

  function retryFile(f: FileRecord): boolean {
    if (f.state !== 'failed') return false;
    return store.apply(f.id, transitions.manualRetry(f.error)) !== null;
  }

  return {
    ...options.verify,
    ...options.restore,
    ...options.freeUp,
    ...options.library,
    ...options.devices,
    'status.get': () => Promise.resolve(options.status()),
    'files.list': (args) => {
      const afterId = args.cursor ? Number.parseInt(args.cursor, 10) : 0;
      const limit = args.limit ?? 200;
      const { files, total } = store.listFiles({
        ...(args.state !== undefined ? { state: args.state } : {}),
        ...(args.folderId !== undefined ? { folderId: args.folderId } : {}),
        ...(args.search !== undefined ? { search: args.search } : {}),
        limit,
        afterId: Number.isFinite(afterId) ? afterId : 0,
      });
      const last = files[files.length - 1];
      return Promise.resolve({
        files: files.map((f) => toFileRow(f, store)),
        next: files.length === limit && last ? String(last.id) : null,
        total,
      });
    },
    'files.retry': ({ id }) => {
      const f = store.getFile(id);
      if (!f) return Promise.reject(new KeepsakeError('not_found', `No file with id ${id}.`));
      retryFile(f);
      options.kickAll();
      return Promise.resolve({ ok: true as const });
    },
    'files.retryAll': () => {
      let retried = 0;
      store.batch(() => {
        for (const id of store.failedFileIds()) {
          const f = store.getFile(id);
          if (f && retryFile(f)) retried++;
        }
      });
      options.kickAll();
      return Promise.resolve({ retried });
    },
    'folders.list': () => Promise.resolve(folders.list()),
    'folders.add': async (args) => {
      options.policy.checkAdd(args.path);
      return folders.add(args);
    },
    'folders.remove': async ({ id }) => {
      options.policy.checkRemove(id);
      await folders.remove(id);
      return { ok: true as const };
    },
    'folders.setRules': async ({ id, include, exclude }) => {
      options.policy.checkRules(id, include, exclude);
      return folders.setRules(id, include, exclude);
    },
    'folders.setFreeUp': ({ id, allowed }) => {
      const setting = settings().freeUpAllowed;
      if (allowed && !setting.value && setting.locked) {
        throw new KeepsakeError('setting_locked', lockedMessage('freeUpAllowed'));
      }
      return Promise.resolve(folders.setFreeUp(id, allowed));
    },
    'uploads.pause': ({ untilMs }) => {
      options.activity({ level: 'info', message: 'Paused uploads', path: null, code: null });
      pause.pauseByUser(untilMs ?? null);
      return Promise.resolve({ ok: true as const });
    },
    'uploads.resume': () => {
      options.activity({ level: 'info', message: 'Resumed uploads', path: null, code: null });
      pause.resumeByUser();
      return Promise.resolve({ ok: true as const });
    },
    'settings.get': () => Promise.resolve(settings()),
    'settings.set': async (update) => {
      if (update.key === 'vaultToken') {
        if (isSettingLocked(settingsSource, 'vaultTokenSet')) {
          throw new KeepsakeError('setting_locked', lockedMessage('vaultToken'));
        }
        await options.secrets.write(update.value);
        settingsSource.facts.vaultTokenSet = update.value !== null;
      } else {
        applySettingUpdate(store, settingsSource, update);
        if (update.key === 'bandwidthLimit' || update.key === 'concurrency') {
          options.settingChanged(update.key);
        }
        if (update.key === 'pauseOnBattery' || update.key === 'pauseOnMetered') pause.recheck();
      }
      options.statusChanged();
      return settings();
    },
    'vault.usage': () =>
      options.vault
        ? options.vault.usage(options.signal)
        : Promise.reject(new KeepsakeError('vault_unreachable', 'No vault is configured.')),
    'activity.list': ({ limit, problems }) =>
      Promise.resolve(
        problems === true ? store.listProblems(limit ?? 100) : store.listActivity(limit ?? 100),
      ),
    'diagnostics.export': () => {
      const bundle = {
        generatedAt: new Date(clock.now()).toISOString(),
        status: options.status(),
        folders: folders.list(),
        settings: settings(),
        activity: store.listActivity(500),
        platform: { os: process.platform, arch: process.arch, node: process.version },
      };
      return Promise.resolve({
        filename: `keepsake-diagnostics-${clock.now()}.json`,
        content: JSON.stringify(bundle, null, 2),
      });
    },
  };
}
