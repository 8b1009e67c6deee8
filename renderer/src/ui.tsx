// Small shared pieces: the loading / error / empty states every page uses, a progress bar,
// and the status words and colours.
import { createContext, useContext, type ReactNode } from 'react';
import type { EngineStatus, ErrorInfo, SyncStatus } from '../../common/contract';
import type { Query } from './hooks';

export const statusWords: Record<SyncStatus, string> = {
  up_to_date: 'Up to date',
  backing_up: 'Backing up',
  paused: 'Paused',
  offline: 'Offline',
  needs_attention: 'Needs attention',
};

export const StatusContext = createContext<Query<EngineStatus> | null>(null);
export function useSharedStatus(): Query<EngineStatus> {
  const status = useContext(StatusContext);
  if (!status) throw new Error('useSharedStatus outside StatusContext');
  return status;
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="state state-loading" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function ErrorState({ error, retry }: { error: ErrorInfo; retry?: () => void }) {
  return (
    <div className="state state-error" role="alert">
      <p>{error.message}</p>
      {retry && (
        <button type="button" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function InlineError({ error }: { error: ErrorInfo | undefined }) {
  if (!error) return null;
  return (
    <p className="inline-error" role="alert">
      {error.message}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state state-empty">{children}</div>;
}

/** Shows loading, error or the content, in that order of precedence (data wins over a later error). */
export function QueryView<T>(props: {
  query: Query<T>;
  what: string;
  children: (data: T) => ReactNode;
  /** The page shows a later error itself (the overview's status banner). */
  ownsErrors?: boolean;
}) {
  const { query } = props;
  if (query.data !== undefined) {
    return (
      <>
        {query.error && !props.ownsErrors && <InlineError error={query.error} />}
        {props.children(query.data)}
      </>
    );
  }
  if (query.error) return <ErrorState error={query.error} retry={query.reload} />;
  return <Loading what={props.what} />;
}

export function ProgressBar(props: {
  value: number;
  max: number;
  label: string;
  tone?: 'ok' | 'warn' | 'bad';
}) {
  const ratio = props.max > 0 ? Math.min(1, Math.max(0, props.value / props.max)) : 0;
  return (
    <div
      className={`bar bar-${props.tone ?? 'ok'}`}
      role="progressbar"
      aria-label={props.label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(ratio * 100)}
    >
      <div className="bar-fill" style={{ width: `${ratio * 100}%` }} />
    </div>
  );
}
