// The engine's event bus and the one coalescing helper every "something changed" event goes
// through (status, upload progress, folder list).
//
// Invariant: a listener that throws is logged and never stops the others; a coalesced event
// fires at most once per window, computes its payload when it fires (so it is never stale),
// and never fires after close().
import type { ActivityEvent, EventName, EventPayload } from '../../../common/contract.js';
import type { Clock, Logger, TimerHandle } from '../ports.js';
import type { FileRecord, Store } from '../store/store.js';
import { toFileRow } from './status.js';

type Listener = (payload: unknown) => void;

export interface EventBus {
  on: <K extends EventName>(event: K, listener: (payload: EventPayload<K>) => void) => () => void;
  emit: <K extends EventName>(event: K, payload: EventPayload<K>) => void;
  /** Whether anyone listens (lets callers skip building a payload nobody reads). */
  listened: (event: EventName) => boolean;
  /** A payload that could not be built (e.g. a damaged database): logged, the event skipped. */
  payloadFailed: (event: EventName, err: unknown) => void;
}

export function createEventBus(logger: Logger): EventBus {
  const listeners = new Map<EventName, Set<Listener>>();
  return {
    on(event, listener) {
      let set = listeners.get(event);
      if (!set) {
        set = new Set();
        listeners.set(event, set);
      }
      const l = listener as Listener;
      set.add(l);
      return () => set.delete(l);
    },
    emit(event, payload) {
      const set = listeners.get(event);
      if (!set) return;
      for (const l of set) {
        try {
          l(payload);
        } catch (err) {
          logger.error('event listener threw', { event, error: String(err) });
        }
      }
    },
    listened: (event) => (listeners.get(event)?.size ?? 0) > 0,
    payloadFailed(event, err) {
      logger.warn('an event could not be built', { event, error: String(err) });
    },
  };
}

/** An event sent at most once per window, however often it is asked for. */
export interface CoalescedEvent {
  /** Schedules the event unless one is already scheduled (or nobody listens). */
  soon(): void;
  /** Cancels a pending event; later soon() calls do nothing. */
  close(): void;
}

export function coalescedEvent<K extends EventName>(
  bus: EventBus,
  clock: Clock,
  event: K,
  payload: () => EventPayload<K>,
  windowMs = 250,
): CoalescedEvent {
  let timer: TimerHandle | null = null;
  let closed = false;
  return {
    soon() {
      if (timer !== null || closed || !bus.listened(event)) return;
      timer = clock.setTimeout(() => {
        timer = null;
        if (closed) return;
        // Never thrown from a timer: the next change asks for the event again.
        let value: EventPayload<K>;
        try {
          value = payload();
        } catch (err) {
          bus.payloadFailed(event, err);
          return;
        }
        bus.emit(event, value);
      }, windowMs);
      timer.unref?.();
    },
    close() {
      closed = true;
      if (timer !== null) clock.clearTimeout(timer);
      timer = null;
    },
  };
}

/**
 * The two notices every part sends: a file changed (announced by the store once durable:
 * see [Note: Group commit] in store.ts), and an activity entry (kept in the store, then sent).
 */
export function engineNotices(
  bus: EventBus,
  store: Store,
  logger: Logger,
  statusChanged: () => void,
): {
  fileChanged: (file: FileRecord) => void;
  activity: (event: Omit<ActivityEvent, 'id' | 'at'>) => void;
} {
  function fileChanged(f: FileRecord): void {
    if (bus.listened('file.changed')) bus.emit('file.changed', toFileRow(f, store));
    statusChanged();
  }
  store.onCommitted((changes) => {
    for (const c of changes) fileChanged(c.file);
  });
  return {
    fileChanged,
    activity(event) {
      bus.emit('activity', store.addActivity(event));
      if (event.level !== 'info') {
        logger.info('activity', { level: event.level, message: event.message, code: event.code });
      }
    },
  };
}
