// Data hooks over the bridge: a command's result with loading and error states, and events.
import { useCallback, useEffect, useRef, useState } from 'react';
import type {
  CommandArgs,
  CommandName,
  CommandResult,
  EngineStatus,
  ErrorInfo,
  EventName,
  EventPayload,
} from '../../common/contract';
import { bridge } from './bridge';

export interface Query<T> {
  data: T | undefined;
  error: ErrorInfo | undefined;
  loading: boolean;
  reload: () => void;
}

/** Calls `command` on mount and whenever `key` changes; `reload` calls it again. */
export function useCommand<K extends CommandName>(
  command: K,
  args: CommandArgs<K>,
  key = '',
): Query<CommandResult<K>> {
  const [data, setData] = useState<CommandResult<K>>();
  const [error, setError] = useState<ErrorInfo>();
  const [loading, setLoading] = useState(true);
  const argsRef = useRef(args);
  argsRef.current = args;
  const generation = useRef(0);

  const reload = useCallback(() => {
    const mine = ++generation.current;
    void bridge.invoke(command, argsRef.current).then((res) => {
      if (mine !== generation.current) return;
      setLoading(false);
      if (res.ok) {
        setData(res.value);
        setError(undefined);
      } else {
        setError(res.error);
      }
    });
  }, [command]);

  useEffect(() => {
    setLoading(true);
    reload();
  }, [reload, key]);

  return { data, error, loading, reload };
}

export function useEvent<K extends EventName>(
  event: K,
  listener: (payload: EventPayload<K>) => void,
): void {
  const ref = useRef(listener);
  ref.current = listener;
  useEffect(() => bridge.on(event, (payload) => ref.current(payload)), [event]);
}

/** The engine's status: kept current by `status` events, and re-read every few seconds as a
 * safety net (a missed event, a reconnect) so the window never shows a stale picture. */
export function useStatus(): Query<EngineStatus> {
  const query = useCommand('status.get', {});
  const [live, setLive] = useState<EngineStatus>();
  const { reload } = query;
  useEffect(() => {
    if (query.data) setLive(query.data);
  }, [query.data]);
  useEffect(() => {
    const timer = setInterval(reload, 3000);
    return () => clearInterval(timer);
  }, [reload]);
  useEvent('status', setLive);
  useEvent('upload.progress', (current) => setLive((prev) => (prev ? { ...prev, current } : prev)));
  return { ...query, data: live ?? query.data };
}

/** Runs a command from a button: `busy` while in flight, the error if it failed. */
export function useAction(): {
  busy: boolean;
  error: ErrorInfo | undefined;
  run: <K extends CommandName>(
    command: K,
    args: CommandArgs<K>,
  ) => Promise<CommandResult<K> | undefined>;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ErrorInfo>();
  const run = useCallback(async <K extends CommandName>(command: K, args: CommandArgs<K>) => {
    setBusy(true);
    setError(undefined);
    const res = await bridge.invoke(command, args);
    setBusy(false);
    if (res.ok) return res.value;
    setError(res.error);
    return undefined;
  }, []);
  return { busy, error, run };
}
