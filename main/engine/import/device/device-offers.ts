// The daemon's and the desktop's side of card import (issue 12 section 4): notices a newly
// mounted volume with a DCIM folder (through the VolumeSource port, volumes.ts), offers it
// ("EOS_DIGITAL: 312 new photos, 4.1 GiB") as a DeviceOffer through the contract, and imports it
// with the person's consent, or at once for a card they ticked "always import". The import is
// the one `keepsake import device` runs (device-import.ts); its copies are backed up by this
// engine (the destination becomes a watched folder) and the card is called safe to erase only
// when the vault holds every file on it.
// Invariants: nothing is imported without consent (devices.import, or the remembered "always"
// of that volume); one import per volume at a time; a card pulled out mid-import ends its offer
// as failed with a message, and the next insertion goes on where it stopped (device-import.ts).
//
// [Note: What "new" means in an offer]
// Knowing what the vault lacks means hashing the whole card, minutes of reading before anyone
// said yes. The offer counts instead the files not imported from this volume before: each
// import remembers (path on the card, size, mtime) of every file it brought or found on the
// vault, per volume id, in the settings table ('deviceImport.seen.<id>'). A first insertion
// offers everything; the import itself still asks the vault by hash and copies only what it
// lacks, so a generous count costs a hash pass, never a second copy.
import { mkdir } from 'node:fs/promises';
import type { ActivityEvent, DeviceOffer, KeepsakeApi } from '../../../../common/contract.js';
import { KeepsakeError, serializeError } from '../../errors.js';
import type { FileHasher } from '../../hash/types.js';
import type { MetadataReader } from '../../metadata/types.js';
import { relativeTo } from '../../pipeline/reconcile.js';
import type { Clock, Logger } from '../../ports.js';
import type { Folders } from '../../runtime/folders.js';
import type { Store } from '../../store/store.js';
import type { VaultClient } from '../../vault/vault-client.js';
import { findDcim, scanCard, type CardFile } from './card-scan.js';
import { parseDatePattern, DEFAULT_DATE_PATTERN } from './dated-folder.js';
import { importDevice } from './device-import.js';
import type { MountedVolume, VolumeSource } from './volumes.js';

// Kept in choices.json too (store/person-choices.ts names them): they outlive a rebuilt database.
const ALWAYS_KEY = 'deviceImport.always';
const INTO_KEY = 'deviceImport.into';
const seenKey = (id: string) => `deviceImport.seen.${id}`;
/** Entries kept per volume (a card of 50,000 files is beyond any camera's). */
const MAX_SEEN = 50_000;

export interface DeviceOffersOptions {
  source: VolumeSource;
  store: Store;
  vault: VaultClient | null;
  hasher: FileHasher;
  metadata: MetadataReader | null;
  folders: Folders;
  /** Nothing left to hash or upload (the copies' backup has settled). */
  engineIdle: () => boolean;
  /** Where imports go until the person chooses (e.g. ~/Pictures). */
  defaultInto: string;
  pattern?: string;
  clock: Clock;
  logger: Logger;
  activity: (event: Omit<ActivityEvent, 'id' | 'at'>) => void;
  /** The offers changed: the engine emits 'devices.changed'. */
  changed: (offers: DeviceOffer[]) => void;
  /** Aborted when the engine closes. */
  signal: AbortSignal;
}

export type DeviceCommands = Pick<
  KeepsakeApi,
  'devices.list' | 'devices.import' | 'devices.dismiss' | 'devices.eject'
>;

export interface DeviceOffers {
  api: DeviceCommands;
  /** Lists what is mounted now and starts watching. */
  start(): Promise<void>;
  close(): Promise<void>;
}

interface Live {
  offer: DeviceOffer;
  volume: MountedVolume;
  files: CardFile[];
  abort: AbortController | null;
  done: Promise<void> | null;
}

const line = (file: Pick<CardFile, 'rel' | 'size' | 'mtimeMs'>) =>
  `${file.rel}\t${file.size}\t${file.mtimeMs}`;

export function createDeviceOffers(options: DeviceOffersOptions): DeviceOffers {
  const { store, clock, logger } = options;
  const pattern = parseDatePattern(options.pattern ?? DEFAULT_DATE_PATTERN);
  const live = new Map<string, Live>();
  let stopWatching: (() => void) | null = null;
  let refreshing: Promise<void> = Promise.resolve();
  let closed = false;

  const setting = (key: string) => store.userSettings().get(key);
  const alwaysIds = (): string[] => {
    const v = setting(ALWAYS_KEY);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  };
  const into = (): string => {
    const v = setting(INTO_KEY);
    return typeof v === 'string' && v !== '' ? v : options.defaultInto;
  };
  const seen = (id: string): Set<string> => {
    const v = setting(seenKey(id));
    return new Set(Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  };
  const list = () =>
    [...live.values()].map((l) => ({ ...l.offer })).sort((a, b) => (a.id < b.id ? -1 : 1));
  const changed = () => options.changed(list());

  async function offerFor(volume: MountedVolume): Promise<Live | null> {
    if ((await findDcim(volume.mountPoint).catch(() => null)) === null) return null;
    const scan = await scanCard(volume.mountPoint, options.signal);
    const known = seen(volume.id);
    const fresh = scan.files.filter((f) => !known.has(line(f)));
    return {
      volume,
      files: scan.files,
      abort: null,
      done: null,
      offer: {
        id: volume.id,
        label: volume.label,
        mountPoint: volume.mountPoint,
        newFiles: fresh.length,
        newBytes: fresh.reduce((n, f) => n + f.size, 0),
        totalFiles: scan.files.length,
        alwaysImport: alwaysIds().includes(volume.id),
        canEject: options.source.canEject,
        state: 'offered',
        into: into(),
        result: null,
        message: null,
      },
    };
  }

  /** Re-lists the volumes: offers for new cards, imports cut short for removed ones. */
  async function refresh(): Promise<void> {
    let volumes: MountedVolume[];
    try {
      volumes = await options.source.list();
    } catch (err) {
      logger.warn('could not list mounted volumes', { error: String(err) });
      return;
    }
    let any = false;
    const mounted = new Set(volumes.map((v) => v.id));
    for (const [id, l] of live) {
      if (mounted.has(id)) continue;
      live.delete(id);
      any = true;
      if (l.abort) {
        l.abort.abort(new KeepsakeError('file_not_found', 'the card was removed'));
        options.activity({
          level: 'warning',
          message: `${l.offer.label} was removed before its import finished: insert it again to go on (nothing half-copied is kept)`,
          path: l.offer.mountPoint,
          code: null,
        });
      }
    }
    for (const volume of volumes) {
      if (live.has(volume.id) || closed) continue;
      try {
        const l = await offerFor(volume);
        if (l === null) continue;
        live.set(volume.id, l);
        any = true;
        options.activity({
          level: 'info',
          message: `${l.offer.label} inserted: ${l.offer.newFiles} new photos and videos`,
          path: volume.mountPoint,
          code: null,
        });
        if (l.offer.alwaysImport && l.offer.newFiles > 0) startImport(l);
      } catch (err) {
        logger.warn('could not look at a mounted volume', {
          mountPoint: volume.mountPoint,
          error: String(err),
        });
      }
    }
    if (any) changed();
  }

  function refreshSoon(): void {
    refreshing = refreshing.then(refresh, refresh);
  }

  function startImport(l: Live): void {
    if (l.offer.state === 'importing') return;
    if (!options.vault) {
      l.offer.state = 'failed';
      l.offer.message = 'No vault is set up to back the photos up to.';
      return;
    }
    const vault = options.vault;
    const abort = new AbortController();
    const signal = AbortSignal.any([abort.signal, options.signal]);
    l.abort = abort;
    l.offer.state = 'importing';
    l.offer.into = into();
    l.offer.message = `Copying ${l.offer.label} into ${l.offer.into}`;
    changed();
    l.done = (async () => {
      try {
        // The destination is watched before anything is copied: a folder that overlaps a
        // watched one is refused here, not after the copies were made.
        const folderId = await watchedFolderFor(l.offer.into);
        const report = await importDevice(
          {
            hasher: options.hasher,
            metadata: options.metadata,
            vault,
            logger: logger.child({ part: 'device-import' }),
            backUp: async (copies, backupSignal) => {
              l.offer.message = `Backing up ${copies.length} photos and videos from ${l.offer.label}`;
              changed();
              await backUp(
                folderId,
                copies.map((c) => c.sha256),
                vault,
                backupSignal ?? signal,
              );
            },
          },
          { card: l.offer.mountPoint, into: l.offer.into, pattern, signal },
        );
        const failed = new Set(report.failures.map((f) => f.path));
        remember(
          l.offer.id,
          l.files.filter((f) => !failed.has(f.path)),
        );
        l.offer.state = 'done';
        l.offer.result = {
          found: report.found,
          imported: report.imported,
          alreadyOnVault: report.alreadyOnVault,
          failed: report.failed,
          safeToErase: report.safeToErase,
        };
        l.offer.newFiles = 0;
        l.offer.newBytes = 0;
        l.offer.message = report.safeToErase
          ? `${l.offer.label} is safe to erase: every photo and video on it is on the vault.`
          : report.stopped
            ? report.stopped.message
            : `${report.failed} of ${report.found} could not be imported; keep the card.`;
        options.activity({
          level: report.safeToErase ? 'info' : 'warning',
          message: `${l.offer.label}: ${report.imported} imported, ${report.alreadyOnVault} already on the vault, ${report.failed} failed. ${l.offer.message}`,
          path: l.offer.mountPoint,
          code: null,
        });
      } catch (err) {
        l.offer.state = 'failed';
        l.offer.message = signal.aborted
          ? `${l.offer.label} was removed before its import finished: insert it again to go on.`
          : serializeError(err).message;
      } finally {
        l.abort = null;
        if (!closed) changed();
      }
    })();
  }

  /** The watched folder holding DIR (DIR itself, made and added when none does). */
  async function watchedFolderFor(dir: string): Promise<number> {
    const holder = options.folders
      .list()
      .find((f) => f.path === dir || relativeTo(f.path, dir) !== null);
    if (holder) return holder.id;
    await mkdir(dir, { recursive: true });
    return (await options.folders.add({ path: dir })).id;
  }

  /** Rescans the folder of the copies, then waits for the vault to hold them. */
  async function backUp(
    folderId: number,
    hashes: string[],
    vault: VaultClient,
    signal: AbortSignal,
  ): Promise<void> {
    await options.folders.rescan(folderId);
    for (;;) {
      const states = await vault.checkStates(hashes, signal);
      if (hashes.every((h) => states.present.has(h))) return;
      // Settled with some missing (they failed): the report says they are not on the vault.
      if (options.engineIdle()) return;
      await clock.sleep(1000, signal);
    }
  }

  function remember(id: string, files: readonly CardFile[]): void {
    const all = [...seen(id), ...files.map(line)];
    store.setSetting(seenKey(id), [...new Set(all)].slice(-MAX_SEEN));
    store.commit();
  }

  function setAlways(id: string, always: boolean): void {
    const ids = new Set(alwaysIds());
    if (always) ids.add(id);
    else ids.delete(id);
    store.setSetting(ALWAYS_KEY, [...ids]);
    const l = live.get(id);
    if (l) l.offer.alwaysImport = always;
  }

  const api: DeviceCommands = {
    'devices.list': () => Promise.resolve(list()),
    'devices.import': ({ id, always, into: chosen }) => {
      const l = live.get(id);
      if (!l) {
        return Promise.reject(new KeepsakeError('not_found', `No card ${id} is inserted.`));
      }
      if (chosen !== undefined) store.setSetting(INTO_KEY, chosen);
      if (always !== undefined) setAlways(id, always);
      startImport(l);
      store.commit();
      changed();
      return Promise.resolve({ ok: true as const });
    },
    'devices.dismiss': ({ id }) => {
      const l = live.get(id);
      if (!l) {
        return Promise.reject(new KeepsakeError('not_found', `No card ${id} is inserted.`));
      }
      if (l.offer.state === 'offered') l.offer.state = 'dismissed';
      changed();
      return Promise.resolve({ ok: true as const });
    },
    'devices.eject': async ({ id }) => {
      const l = live.get(id);
      if (!l) throw new KeepsakeError('not_found', `No card ${id} is inserted.`);
      if (l.offer.state === 'importing') {
        throw new KeepsakeError(
          'eject_failed',
          `${l.offer.label} is being imported: wait until it is done, then eject it.`,
        );
      }
      await options.source.eject(l.volume);
      options.activity({
        level: 'info',
        message: `${l.offer.label} was ejected: it can be taken out.`,
        path: l.offer.mountPoint,
        code: null,
      });
      refreshSoon();
      return { ok: true as const };
    },
  };

  return {
    api,
    async start() {
      stopWatching = options.source.watch(refreshSoon);
      refreshSoon();
      await refreshing;
    },
    async close() {
      closed = true;
      stopWatching?.();
      for (const l of live.values()) l.abort?.abort(new Error('closing'));
      await Promise.allSettled([refreshing, ...[...live.values()].map((l) => l.done)]);
    },
  };
}

/** Where no volume is watched (the CLI's one-off runs, tests): no offers, imports refused. */
export const noDeviceCommands: DeviceCommands = {
  'devices.list': () => Promise.resolve([]),
  'devices.import': ({ id }) =>
    Promise.reject(new KeepsakeError('not_found', `No card ${id} is inserted.`)),
  'devices.dismiss': ({ id }) =>
    Promise.reject(new KeepsakeError('not_found', `No card ${id} is inserted.`)),
  'devices.eject': ({ id }) =>
    Promise.reject(new KeepsakeError('not_found', `No card ${id} is inserted.`)),
};
