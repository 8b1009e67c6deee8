// The web transport of the contract, for the renderer served by `keepsake daemon --ui-port`:
// commands are `POST /api/invoke/<command>` (JSON in, Envelope out), events arrive over one
// shared EventSource on /api/events. Auth is the HttpOnly session cookie the server set when
// the page was opened with ?token=, so this code never sees a secret.
// Invariant: invoke never rejects: a network failure becomes an Envelope error as data.
import type {
  CommandArgs,
  CommandName,
  CommandResult,
  Envelope,
  EventName,
  EventPayload,
  KeepsakeBridge,
} from '../../common/contract';

type Listener = (payload: unknown) => void;

export function createWebBridge(base = './'): KeepsakeBridge {
  const listeners = new Map<EventName, Set<Listener>>();
  let source: EventSource | null = null;
  let hadError = false;

  const dispatch = (event: EventName, payload: unknown) => {
    for (const listener of listeners.get(event) ?? []) listener(payload);
  };

  const invoke = async <K extends CommandName>(
    command: K,
    args: CommandArgs<K>,
  ): Promise<Envelope<CommandResult<K>>> => {
    try {
      const res = await fetch(`${base}api/invoke/${encodeURIComponent(command)}`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(args ?? {}),
      });
      const type = res.headers.get('content-type') ?? '';
      if (!type.includes('application/json')) {
        const text = await res.text();
        return {
          ok: false,
          error: {
            name: 'HttpError',
            code: res.status === 401 ? 'sign_in_needed' : 'internal',
            message: text || `Keepsake answered HTTP ${res.status}`,
            retryable: res.status >= 500,
          },
        };
      }
      return (await res.json()) as Envelope<CommandResult<K>>;
    } catch (err) {
      return {
        ok: false,
        error: {
          name: 'NetworkError',
          code: 'network',
          message: `Cannot reach Keepsake (${err instanceof Error ? err.message : String(err)}). Is the daemon running?`,
          retryable: true,
        },
      };
    }
  };

  const connect = () => {
    if (source) return;
    source = new EventSource(`${base}api/events`, { withCredentials: true });
    source.onerror = () => {
      hadError = true;
    };
    source.onopen = () => {
      if (!hadError) return;
      hadError = false;
      // Events were missed while disconnected: bring the status up to date at once.
      void invoke('status.get', {}).then((res) => {
        if (res.ok) dispatch('status', res.value);
      });
    };
    for (const name of [
      'status',
      'file.changed',
      'upload.progress',
      'activity',
      'folders.changed',
      'devices.changed',
    ] satisfies EventName[]) {
      source.addEventListener(name, (message) => {
        try {
          dispatch(name, JSON.parse((message as MessageEvent<string>).data));
        } catch {
          // A malformed frame is dropped; the next status snapshot corrects the view.
        }
      });
    }
  };

  return {
    invoke,
    on<K extends EventName>(event: K, listener: (payload: EventPayload<K>) => void) {
      connect();
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      const wrapped = listener as Listener;
      set.add(wrapped);
      return () => {
        set.delete(wrapped);
      };
    },
  };
}
