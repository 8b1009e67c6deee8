// A long-running engine (the daemon, the desktop app) that comes back by itself from a database
// found damaged while it runs (SQLITE_CORRUPT at any query), instead of staying paused until
// someone restarts it. See [Note: Rebuilding while running].
//
// Invariant: callers hold one engine object for the whole run (the web UI, the tray, the
// daemon): its api, events and lifecycle always reach the engine of the moment, and a
// subscription made once keeps receiving events across a rebuild.
//
// [Note: Rebuilding while running]
// The database is a cache of what disk and vault say (DESIGN.md "Data flow"). When a query
// finds it damaged, the engine stops writing, marks it damaged and pauses (engine.ts,
// [Note: Store fault mode] in store.ts). This wrapper then does what a restart does: it closes
// that engine (watchers, uploads with their offsets, the database, the lock) and opens a new
// one on the same data directory, whose openDatabase() sets the damaged file aside (renamed,
// never deleted) and starts a fresh one; the new engine rescans the folders and asks the
// vault about every hash before uploading, so nothing the vault holds is sent again. It is
// the same path a start takes, so nothing here can leave a half-rebuilt state that a start
// would not also handle. The watched folders and their rules and the settings a person set come
// back from their copy beside the database (See [Note: Choices outlive a rebuilt database] in
// engine/store/person-choices.ts); the folders the running engine last listed are given to the
// new one as well, in case that copy could not be written. A rebuild that fails (the data
// directory cannot be opened) is tried again after rebuildRetryMs; until then the last status
// says the database is damaged.
import type { EventName, EventPayload, Folder, KeepsakeApi } from '../../common/contract.js';
import type { Policy } from '../../common/policy.js';
import type { KeepsakeEngine } from '../engine/api.js';
import type { KeepsakeError } from '../engine/errors.js';
import type { Logger, PowerState } from '../engine/ports.js';

const rebuildRetryMs = 30_000;

interface Subscription {
  event: EventName;
  listener: (payload: never) => void;
  off: () => void;
}

/**
 * Opens engines with `open` (the same options every time, with `onStorageFault` passed on to
 * the engine); see [Note: Rebuilding while running].
 */
export async function createRebuildingEngine(
  open: (onStorageFault: (fault: KeepsakeError) => void) => Promise<KeepsakeEngine>,
  logger: Logger,
): Promise<KeepsakeEngine> {
  /**
   * The watched folders and their rules as last known: they live in the database, which a
   * damaged page may make unreadable, so the rebuilt one is given them from here.
   */
  let watched: { path: string; include: string[]; exclude: string[] }[] = [];
  const remember = (folders: readonly Folder[]) => {
    watched = folders.map((f) => ({ path: f.path, include: f.include, exclude: f.exclude }));
  };

  /** An engine that rebuilds once its store reports the database damaged. */
  async function openWatched(): Promise<KeepsakeEngine> {
    let engine: KeepsakeEngine | null = null;
    engine = await open((fault) => {
      // Told from inside a store call: let that call unwind first.
      if (fault.code === 'database_corrupt') {
        setImmediate(() => {
          if (engine !== null && engine === current) void rebuild();
        });
      }
    });
    const opened = engine;
    opened.on('folders.changed', (folders) => {
      if (opened === current) remember(folders);
    });
    for (const folder of watched) {
      // A folder the organisation's policy no longer allows is not brought back.
      await opened.api['folders.add'](folder).catch((err: unknown) => {
        logger.warn('a watched folder was not brought back after the rebuild', {
          path: folder.path,
          error: String(err),
        });
      });
    }
    remember(await opened.api['folders.list']({}));
    return opened;
  }
  let current = await openWatched();
  let started = false;
  let closed = false;
  let rebuilding: Promise<void> | null = null;
  let retryTimer: NodeJS.Timeout | null = null;
  let power: PowerState | null = null;
  let policy: Policy | null = null;
  const subscriptions = new Set<Subscription>();

  function subscribe(engine: KeepsakeEngine, s: Subscription): void {
    s.off = engine.on(s.event, s.listener as (payload: EventPayload<typeof s.event>) => void);
  }

  function rebuild(): Promise<void> {
    rebuilding ??= (async () => {
      if (closed) return;
      logger.warn('the database was found damaged while running: setting it aside and rebuilding');
      for (const s of subscriptions) s.off();
      await current.close().catch((err: unknown) => {
        logger.error('closing the engine on a damaged database failed', { error: String(err) });
      });
      try {
        const next = await openWatched();
        current = next;
        for (const s of subscriptions) subscribe(next, s);
        if (power !== null) next.setPowerState(power);
        if (policy !== null) await next.setPolicy(policy);
        if (started) await next.start();
        logger.info('the database was rebuilt; backing up goes on');
      } catch (err) {
        logger.error('rebuilding the database failed; trying again', {
          error: String(err),
          retryMs: rebuildRetryMs,
        });
        retryTimer = setTimeout(() => {
          retryTimer = null;
          void rebuild();
        }, rebuildRetryMs);
        retryTimer.unref();
      }
    })().finally(() => {
      rebuilding = null;
    });
    return rebuilding;
  }

  /** The engine of the moment, once a rebuild in progress is done. */
  async function engineNow(): Promise<KeepsakeEngine> {
    while (rebuilding !== null) await rebuilding;
    return current;
  }

  const api = new Proxy({} as KeepsakeApi, {
    get(_target, name) {
      if (typeof name !== 'string' || name === 'then') return undefined;
      return async (args: unknown) => {
        const engine = await engineNow();
        const command: unknown = Reflect.get(engine.api, name);
        if (typeof command !== 'function') return undefined;
        return (command as (a: unknown) => Promise<unknown>).call(engine.api, args);
      };
    },
  });

  return {
    api,
    // The engine of the moment holds its own queue. A rebuild while the updater waits (rare: a
    // database damaged meanwhile) closes the held engine, which ends the wait; the new engine
    // is not held.
    updateGate: {
      safePoint: async (signal) => (await engineNow()).updateGate.safePoint(signal),
      release: () => current.updateGate.release(),
      holding: () => current.updateGate.holding(),
    },
    media: {
      fetch: async (sha256, variant, opts) =>
        (await engineNow()).media.fetch(sha256, variant, opts),
    },
    on(event, listener) {
      const s: Subscription = { event, listener, off: () => {} };
      subscriptions.add(s);
      subscribe(current, s);
      return () => {
        subscriptions.delete(s);
        s.off();
      };
    },
    async start() {
      started = true;
      await (await engineNow()).start();
    },
    async whenSettled(signal) {
      await (await engineNow()).whenSettled(signal);
    },
    setPowerState(state) {
      power = state;
      current.setPowerState(state);
    },
    async setPolicy(next) {
      policy = next;
      await (await engineNow()).setPolicy(next);
    },
    async close() {
      closed = true;
      if (retryTimer !== null) clearTimeout(retryTimer);
      await (await engineNow()).close();
    },
    async whenMetadataSent(signal) {
      await (await engineNow()).whenMetadataSent(signal);
    },
    async whenLocationsSent(signal) {
      await (await engineNow()).whenLocationsSent(signal);
    },
    async whenGroupsSent(signal) {
      await (await engineNow()).whenGroupsSent(signal);
    },
    bytesUploaded: () => current.bytesUploaded(),
    sendHeartbeat: async (pass) => (await engineNow()).sendHeartbeat(pass),
  };
}
