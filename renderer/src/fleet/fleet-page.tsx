// The vault's fleet page: every device, the worst first, with its health verdict and the reason
// in words, what it has safe, what still waits, and what stops it. Read-only: nothing here
// changes a device (revoking and renaming stay with `keepsake vault devices`). It refreshes
// itself every minute and on request; a later failure keeps the last list on screen beside
// the error, as the desktop pages do (See QueryView in ../ui.tsx).
import { useCallback, useEffect, useState } from 'react';
import type { DeviceJson, FleetSnapshot } from '../../../common/vault-protocol';
import { countOf, formatBytes, formatCount, formatDateTime } from '../format';
import { Empty, ErrorState, InlineError, Loading } from '../ui';
import {
  ago,
  failedFiles,
  type FleetProblem,
  loadFleet,
  pausedWords,
  pendingFiles,
  sortForAttention,
  verdictWords,
  waitWords,
} from './fleet-data';

const refreshEveryMs = 60_000;

type View = { snapshot: FleetSnapshot | null; problem: FleetProblem | null; loading: boolean };

function useFleet(): View & { reload: () => void } {
  const [view, setView] = useState<View>({ snapshot: null, problem: null, loading: true });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);

  useEffect(() => {
    const abort = new AbortController();
    setView((v) => ({ ...v, loading: true }));
    void loadFleet(abort.signal).then((res) => {
      if (abort.signal.aborted) return;
      setView((v) =>
        res.ok
          ? { snapshot: res.value, problem: null, loading: false }
          : { snapshot: v.snapshot, problem: res.problem, loading: false },
      );
    });
    const timer = window.setTimeout(reload, refreshEveryMs);
    return () => {
      abort.abort();
      window.clearTimeout(timer);
    };
  }, [tick, reload]);

  return { ...view, reload };
}

const verdictTone: Record<DeviceJson['verdict'], string> = {
  healthy: 'ok',
  behind: 'warn',
  silent: 'neutral',
  failing: 'bad',
};

function Summary({ devices }: { devices: readonly DeviceJson[] }) {
  const live = devices.filter((d) => d.revokedAt === null);
  return (
    <ul className="counts fleet-summary" aria-label="Devices by health">
      {(['healthy', 'behind', 'silent', 'failing'] as const).map((v) => {
        const n = live.filter((d) => d.verdict === v).length;
        return (
          <li
            key={v}
            className={`count tone-${verdictTone[v]}`}
            data-testid={`fleet-count-${v}`}
            data-value={n}
          >
            <div className="count-link">
              <span className="count-value">{formatCount(n)}</span>
              <span className="count-label">{verdictWords[v]}</span>
            </div>
          </li>
        );
      })}
    </ul>
  );
}

function When({ at, now, never }: { at: number | null; now: number; never: string }) {
  if (at === null) return <span className="muted">{never}</span>;
  return (
    <time dateTime={new Date(at).toISOString()} title={formatDateTime(at)}>
      {ago(at, now)}
    </time>
  );
}

function DeviceRow({ d, now }: { d: DeviceJson; now: number }) {
  const beat = d.heartbeat;
  const pending = pendingFiles(d);
  const failed = failedFiles(d);
  const paused = pausedWords(d);
  const revoked = d.revokedAt !== null;
  return (
    <tr
      data-testid="fleet-device"
      data-name={d.name}
      data-verdict={d.verdict}
      className={revoked ? 'fleet-revoked' : undefined}
    >
      <td data-label="Device">
        <div className="fleet-name">{d.name}</div>
        <div className="muted small">
          {[d.version ? `Keepsake ${d.version}` : null, beat?.os ?? null]
            .filter((x) => x !== null)
            .join(' · ') || 'has not reported yet'}
        </div>
      </td>
      <td data-label="Health">
        <span className={`badge verdict-${d.verdict}`} data-testid="fleet-verdict">
          {revoked ? 'Revoked' : verdictWords[d.verdict]}
        </span>
        <div className="small fleet-reason" data-testid="fleet-reason">
          {d.verdictReason}
        </div>
      </td>
      <td data-label="Last seen">
        <When at={d.lastSeenAt} now={now} never="never" />
      </td>
      <td data-label="Last backup" data-testid="fleet-last-backup">
        <When at={d.lastBackupAt} now={now} never="none yet" />
      </td>
      <td data-label="Safe" data-testid="fleet-safe" data-value={d.filesSafe}>
        <span className="num">{countOf(d.filesSafe, 'file', 'files')}</span>
        <div className="muted small">{formatBytes(d.bytesSafe)}</div>
      </td>
      <td data-label="Waiting" data-testid="fleet-pending">
        {beat === null ? (
          <span className="muted">unknown</span>
        ) : beat.bytesPending === 0 && pending === 0 ? (
          <span className="muted">nothing</span>
        ) : (
          <>
            <span className="num">{countOf(pending ?? 0, 'file', 'files')}</span>
            <div className="muted small">{formatBytes(beat.bytesPending)}</div>
          </>
        )}
        {beat?.oldestUnsafeAgeMs != null && (
          <div className="small">oldest waits {waitWords(beat.oldestUnsafeAgeMs)}</div>
        )}
      </td>
      <td data-label="Problems" data-testid="fleet-problems">
        {beat?.lastError && <div className="fleet-error">{beat.lastError}</div>}
        {failed > 0 && (
          <div className="small">{countOf(failed, 'file failed', 'files failed')}</div>
        )}
        {paused && <div className="small fleet-paused">{paused}</div>}
        {!beat?.lastError && failed === 0 && !paused && <span className="muted">none</span>}
      </td>
    </tr>
  );
}

export function FleetPage() {
  const fleet = useFleet();
  const { snapshot, problem } = fleet;
  const state =
    snapshot === null
      ? problem
        ? 'error'
        : 'loading'
      : snapshot.devices.length === 0
        ? 'empty'
        : 'ready';

  useEffect(() => {
    const failing = snapshot?.devices.filter(
      (d) => d.revokedAt === null && d.verdict !== 'healthy',
    ).length;
    document.title = failing
      ? `Keepsake Vault · Fleet · ${countOf(failing, 'device needs', 'devices need')} attention`
      : 'Keepsake Vault · Fleet';
  }, [snapshot]);

  return (
    <div className="fleet" data-testid="fleet-state" data-value={state}>
      <header className="fleet-head">
        <div>
          <div className="fleet-brand">Keepsake Vault</div>
          <h1 id="page-title">Fleet</h1>
        </div>
        <div className="fleet-refresh">
          {snapshot && (
            <span className="muted small" data-testid="fleet-updated">
              Updated {formatDateTime(snapshot.now)}
            </span>
          )}
          <button type="button" onClick={fleet.reload} disabled={fleet.loading}>
            {fleet.loading ? 'Refreshing…' : 'Refresh'}
          </button>
        </div>
      </header>
      <main aria-labelledby="page-title">
        {state === 'loading' && <Loading what="devices" />}
        {state === 'error' && problem && (
          <ErrorState
            error={{
              name: 'FleetError',
              code: problem.kind,
              message: problem.message,
              retryable: true,
            }}
            retry={fleet.reload}
          />
        )}
        {snapshot && problem && (
          <InlineError
            error={{
              name: 'FleetError',
              code: problem.kind,
              message: problem.message,
              retryable: true,
            }}
          />
        )}
        {state === 'empty' && (
          <Empty>
            <p>No devices yet.</p>
            <p className="small">
              Add one with <code>keepsake vault devices add NAME</code>, or print an enrolment code
              with <code>keepsake vault enroll --ttl 7d</code> for a computer to use on its first
              start.
            </p>
          </Empty>
        )}
        {state === 'ready' && snapshot && (
          <>
            <Summary devices={snapshot.devices} />
            <table className="fleet-table" aria-label="Devices">
              <thead>
                <tr>
                  <th scope="col">Device</th>
                  <th scope="col">Health</th>
                  <th scope="col">Last seen</th>
                  <th scope="col">Last backup</th>
                  <th scope="col">Safe</th>
                  <th scope="col">Waiting</th>
                  <th scope="col">Problems</th>
                </tr>
              </thead>
              <tbody>
                {sortForAttention(snapshot.devices).map((d) => (
                  <DeviceRow key={d.id} d={d} now={snapshot.now} />
                ))}
              </tbody>
            </table>
          </>
        )}
      </main>
    </div>
  );
}
