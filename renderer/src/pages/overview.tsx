// Overview: is everything safe, what is left, what is happening now (issue 5 "Overview").
import { useEffect, useState } from 'react';
import type { EngineStatus, FileState } from '../../../common/contract';
import { bridge } from '../bridge';
import {
  countOf,
  fileName,
  formatBytes,
  formatCount,
  formatDate,
  formatDateTime,
  formatDuration,
  formatPercent,
  formatRate,
} from '../format';
import { useAction } from '../hooks';
import { Empty, InlineError, ProgressBar, QueryView, statusWords, useSharedStatus } from '../ui';
import { VerifyCard } from '../verify-receipt';

// [Note: Throughput history]
// The engine reports the current rate in each status snapshot (from events or the periodic
// re-read); the chart keeps the last five minutes of those snapshots here, from the moment the
// page loaded (module scope, so moving between pages keeps the history).
const historyMs = 5 * 60_000;
const samples: { at: number; bps: number }[] = [];
let lastSampled: EngineStatus | null = null;
function recordSample(s: EngineStatus): void {
  if (s === lastSampled) return;
  lastSampled = s;
  const now = Date.now();
  samples.push({ at: now, bps: s.throughputBytesPerSecond });
  while (samples.length > 0 && (samples[0]?.at ?? now) < now - historyMs) samples.shift();
}
bridge.on('status', recordSample);

/** Uploads listed by name; a batch of hundreds of small photos is summed up after them. */
const shownUploads = 8;

const countCards: { testId: string; label: string; states: FileState[]; tone: string }[] = [
  {
    testId: 'count-checking',
    label: 'Checking',
    states: ['discovered', 'hashing'],
    tone: 'neutral',
  },
  { testId: 'count-queued', label: 'Queued', states: ['queued'], tone: 'neutral' },
  { testId: 'count-uploading', label: 'Uploading', states: ['uploading'], tone: 'info' },
  { testId: 'count-backed-up', label: 'Backed up', states: ['backed_up'], tone: 'ok' },
  { testId: 'count-duplicate', label: 'Duplicates', states: ['duplicate'], tone: 'ok' },
  { testId: 'count-failed', label: 'Failed', states: ['failed'], tone: 'bad' },
  { testId: 'count-excluded', label: 'Excluded', states: ['excluded'], tone: 'neutral' },
  { testId: 'count-missing', label: 'Missing', states: ['missing'], tone: 'warn' },
  {
    testId: 'count-vault-only',
    label: 'On the vault only (freed up)',
    states: ['vault_only'],
    tone: 'ok',
  },
  {
    testId: 'count-skipped',
    label: 'Skipped (not photos or videos)',
    states: ['skipped'],
    tone: 'neutral',
  },
];

/** Whether the backup shares this computer (embedded vault) or a disk with the photos. */
function backupIsLocal(s: EngineStatus): boolean {
  return s.vault.embedded || s.vault.sameDiskAs !== null;
}

function statusLine(s: EngineStatus): string {
  switch (s.status) {
    case 'up_to_date':
      if (s.filesTotal === 0) return 'Nothing to back up yet.';
      // Not "safe": a copy on the same disk goes with the disk. See VaultPlace below.
      if (s.vault.sameDiskAs !== null) {
        return `Every file is copied into the ${s.vault.embedded ? 'embedded vault' : 'vault'}, on the same disk as your photos.`;
      }
      return s.vault.embedded
        ? 'Every file is copied into the embedded vault on this computer.'
        : 'Every file is safe on the vault.';
    case 'backing_up':
      return `${countOf(s.filesTotal - s.filesSafe, 'file', 'files')}, ${formatBytes(s.bytesPending)} left.`;
    case 'offline':
      return `The vault at ${s.vault.url} cannot be reached; Keepsake keeps trying.`;
    case 'paused':
      return pausedLine(s);
    case 'needs_attention': {
      // A block (the vault refused us, this computer's disk is full) says which.
      if (s.pauseReason !== null && s.pauseReason !== 'user') return pausedLine(s);
      const parts: string[] = [];
      if (s.counts.failed > 0) {
        parts.push(
          `${countOf(s.counts.failed, 'file', 'files')} could not be backed up. See the queue.`,
        );
      }
      if (s.unreadableFolders > 0) {
        parts.push(
          `${countOf(s.unreadableFolders, 'folder', 'folders')} could not be read. See Folders.`,
        );
      }
      if (s.placesNotRecorded > 0) {
        parts.push(
          `The vault did not record where ${countOf(s.placesNotRecorded, 'file is', 'files are')} kept. See the queue.`,
        );
      }
      if (s.emptyFiles > 0) {
        parts.push(
          `${countOf(s.emptyFiles, 'photo is an empty file', 'photos are empty files')}. See the queue.`,
        );
      }
      return parts.length > 0 ? parts.join(' ') : 'Something needs your attention.';
    }
    default: {
      const never: never = s.status;
      return String(never);
    }
  }
}

function pausedLine(s: EngineStatus): string {
  const until = s.pausedUntil ? ` until ${formatDateTime(s.pausedUntil)}` : ' until you resume';
  switch (s.pauseReason) {
    case 'user':
    case null:
      return `Paused${until}.`;
    case 'sign_in_needed':
      return 'Paused: the vault refused the token. Set a new one in Settings.';
    case 'vault_full':
      return 'Paused: the vault is full.';
    case 'disk_full':
      return "Paused: not enough disk space for Keepsake's database on this computer. Free some space; Keepsake tries again every minute.";
    case 'database_corrupt':
      return "Paused: Keepsake's database is damaged. It is being set aside (kept, renamed) and rebuilt from your folders and the vault; nothing already on the vault is uploaded again. If this stays, restart Keepsake.";
    case 'battery':
      return 'Paused while on battery.';
    case 'metered':
      return 'Paused on a metered network.';
    default: {
      const never: never = s.pauseReason;
      return String(never);
    }
  }
}

/**
 * Where the backup is, when that is this computer or the photos' own disk (issue 9 item 14):
 * what that protects against, and how to add a vault on another disk or machine.
 */
function VaultPlace({ s }: { s: EngineStatus }) {
  if (!backupIsLocal(s)) return null;
  const where = s.vault.embedded
    ? `Your backup is in the embedded vault in ${s.vault.dir ?? 'the data directory'}`
    : `Your backup is in the vault at ${s.vault.url}`;
  const disk =
    s.vault.sameDiskAs !== null
      ? `, on the same disk as your photos (${s.vault.sameDiskAs})`
      : ', on this computer';
  return (
    <section className="vault-place" data-testid="vault-place" aria-label="Where the backup is">
      <p>
        <strong>
          {where}
          {disk}.
        </strong>{' '}
        It protects against a photo deleted or damaged by mistake, not against losing this{' '}
        {s.vault.sameDiskAs !== null ? 'disk' : 'computer'}.
      </p>
      <p className="muted">
        For a copy elsewhere, run a vault on another disk or machine (
        <code>keepsake vault --data-dir /mnt/other-disk/keepsake-vault</code>) and set its address
        and token under <a href="#/settings">Settings</a>.
      </p>
    </section>
  );
}

function ThroughputChart({ status }: { status: EngineStatus }) {
  const [, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((t) => t + 1), 2000);
    return () => clearInterval(timer);
  }, []);
  recordSample(status);
  const now = Date.now();
  const points = samples;
  const peak = Math.max(0, ...points.map((p) => p.bps));
  const max = Math.max(1, peak);
  const w = 300;
  const h = 60;
  const path = points
    .map((p, i) => {
      const x = w - ((now - p.at) / historyMs) * w;
      const y = h - (p.bps / max) * (h - 4);
      return `${i === 0 ? 'M' : 'L'}${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(' ');
  return (
    <figure className="chart">
      <svg
        viewBox={`0 0 ${w} ${h}`}
        role="img"
        aria-label={`Upload speed over the last five minutes, peak ${formatRate(peak)}`}
      >
        <line x1="0" y1={h - 0.5} x2={w} y2={h - 0.5} className="axis" />
        <path d={path} className="line" />
      </svg>
      <figcaption>
        Now {formatRate(status.throughputBytesPerSecond)} · peak {formatRate(peak)} (last 5 minutes)
      </figcaption>
    </figure>
  );
}

export function PauseControls({ status }: { status: EngineStatus }) {
  const action = useAction();
  const userPaused =
    status.paused && (status.pauseReason === 'user' || status.pauseReason === null);
  return (
    <div className="pause-controls">
      <button
        type="button"
        data-testid="pause-toggle"
        data-paused={status.paused ? 'true' : 'false'}
        className={status.paused ? 'primary' : ''}
        disabled={action.busy}
        onClick={() =>
          void (status.paused
            ? action.run('uploads.resume', {})
            : action.run('uploads.pause', { untilMs: null }))
        }
      >
        {status.paused ? 'Resume' : 'Pause'}
      </button>
      {!status.paused && (
        <button
          type="button"
          data-testid="pause-hour"
          disabled={action.busy}
          onClick={() => void action.run('uploads.pause', { untilMs: Date.now() + 3_600_000 })}
        >
          Pause for 1 hour
        </button>
      )}
      {status.paused && !userPaused && (
        <span className="muted">Paused automatically; Resume overrides it.</span>
      )}
      <InlineError error={action.error} />
    </div>
  );
}

export function OverviewPage() {
  const status = useSharedStatus();
  return (
    <QueryView query={status} what="the status" ownsErrors>
      {(s) => (
        <>
          {status.error ? (
            // The engine did not answer the last status read: say so instead of showing a
            // stale "Up to date" in green.
            <section className="status-banner tone-offline stale" aria-live="polite">
              <span className="dot" aria-hidden="true" />
              <div>
                <p className="status-words" data-testid="sync-status" data-status="disconnected">
                  Not connected
                </p>
                <p className="status-detail">
                  {status.error.message} Last known status: {statusWords[s.status]}.
                </p>
              </div>
            </section>
          ) : (
            <section className={`status-banner tone-${s.status}`} aria-live="polite">
              <span className="dot" aria-hidden="true" />
              <div>
                <p className="status-words" data-testid="sync-status" data-status={s.status}>
                  {statusWords[s.status]}
                </p>
                <p className="status-detail">
                  {statusLine(s)}
                  {s.filesTotal === 0 && s.status === 'up_to_date' && (
                    <>
                      {' '}
                      <a href="#/folders">Add a folder</a>
                    </>
                  )}
                </p>
              </div>
              <PauseControls status={s} />
            </section>
          )}

          <VaultPlace s={s} />

          <section className="card-grid" aria-label="Coverage">
            <div className="card">
              <h2>{backupIsLocal(s) ? 'Files copied' : 'Files safe'}</h2>
              <p className="big">
                {s.filesTotal === 0 ? '–' : formatPercent(s.filesSafe, s.filesTotal)}
              </p>
              <ProgressBar
                value={s.filesSafe}
                max={s.filesTotal}
                label={backupIsLocal(s) ? 'Files copied' : 'Files safe'}
              />
              <p className="muted">
                {formatCount(s.filesSafe)} of {formatCount(s.filesTotal)} files
              </p>
            </div>
            <div className="card">
              <h2>{backupIsLocal(s) ? 'Bytes copied' : 'Bytes safe'}</h2>
              <p className="big">
                {s.filesTotal === 0 ? '–' : formatPercent(s.bytesSafe, s.bytesTotal)}
              </p>
              <ProgressBar
                value={s.bytesSafe}
                max={s.bytesTotal}
                label={backupIsLocal(s) ? 'Bytes copied' : 'Bytes safe'}
              />
              <p className="muted">
                {formatBytes(s.bytesSafe)} of {formatBytes(s.bytesTotal)}
              </p>
            </div>
            <div className="card">
              <h2>Left to back up</h2>
              <p className="big">{formatBytes(s.bytesPending)}</p>
              <p className="muted">
                {s.bytesPending === 0
                  ? 'Nothing waiting'
                  : s.paused
                    ? 'Waiting until uploads resume'
                    : s.etaSeconds !== null
                      ? `About ${formatDuration(s.etaSeconds)} left`
                      : 'Estimating time left…'}
              </p>
              <p className="muted">
                {s.oldestUnsafeMtimeMs !== null
                  ? `Oldest file not yet safe: ${formatDate(s.oldestUnsafeMtimeMs)}`
                  : 'No file is waiting'}
              </p>
            </div>
          </section>

          <VerifyCard />

          <section aria-label="Files by state">
            <h2>Files by state</h2>
            <ul className="counts">
              {countCards.map((c) => {
                const n = c.states.reduce((sum, st) => sum + s.counts[st], 0);
                return (
                  <li key={c.testId} className={`count tone-${c.tone}`}>
                    <a href={`#/queue`} className="count-link">
                      <span className="count-value" data-testid={c.testId} data-value={n}>
                        {formatCount(n)}
                      </span>
                      <span className="count-label">{c.label}</span>
                    </a>
                  </li>
                );
              })}
            </ul>
          </section>

          <section className="two-col">
            <div>
              <h2>
                Uploading now
                {s.current.length > 0 && (
                  <>
                    {' '}
                    <span
                      className="muted"
                      data-testid="uploads-now-count"
                      data-value={s.current.length}
                    >
                      ({countOf(s.current.length, 'file', 'files')})
                    </span>
                  </>
                )}
              </h2>
              {s.current.length === 0 ? (
                <Empty>
                  <p>{s.paused ? 'Uploads are paused.' : 'Nothing is uploading right now.'}</p>
                </Empty>
              ) : (
                <ul className="uploads" data-testid="uploads-now">
                  {/* The ones being sent first; a batch's waiting files after them. */}
                  {[...s.current]
                    .sort(
                      (a, b) => b.bytesPerSecond - a.bytesPerSecond || b.bytesSent - a.bytesSent,
                    )
                    .slice(0, shownUploads)
                    .map((u) => (
                      <li key={u.fileId}>
                        <div className="upload-head">
                          <span className="name" title={u.path}>
                            {fileName(u.path)}
                          </span>
                          <span className="muted">
                            {formatBytes(u.bytesSent)} / {formatBytes(u.bytesTotal)} ·{' '}
                            {formatRate(u.bytesPerSecond)}
                          </span>
                        </div>
                        <ProgressBar
                          value={u.bytesSent}
                          max={u.bytesTotal}
                          label={`Uploading ${fileName(u.path)}`}
                        />
                      </li>
                    ))}
                  {s.current.length > shownUploads && (
                    <li className="muted">
                      and {countOf(s.current.length - shownUploads, 'more file', 'more files')} in
                      the same requests
                    </li>
                  )}
                </ul>
              )}
            </div>
            <div>
              <h2>Speed</h2>
              <ThroughputChart status={s} />
            </div>
          </section>

          {s.lastErrors.length > 0 && (
            <section>
              <h2>Recent problems</h2>
              <ul className="activity-list">
                {s.lastErrors.slice(0, 5).map((e) => (
                  <li key={e.id} className={`level-${e.level}`}>
                    <time dateTime={new Date(e.at).toISOString()}>{formatDateTime(e.at)}</time>{' '}
                    {e.message}
                  </li>
                ))}
              </ul>
            </section>
          )}
        </>
      )}
    </QueryView>
  );
}
