// Queue: every file by state, filterable, in a windowed list (100,000 rows stay smooth).
// Pages of 500 rows are fetched in order as the window nears the end of what is loaded;
// `file.changed` events update loaded rows in place, and a change in the counts refetches.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { fileStates, type FileRow, type FileState, mediaPath } from '../../../common/contract';
import { bridge } from '../bridge';
import { fileName, formatBytes, formatCount, formatDateTime } from '../format';
import { useAction, useEvent } from '../hooks';
import { Empty, ErrorState, InlineError, Loading, useSharedStatus } from '../ui';
import { FileReceiptPanel } from '../verify-receipt';
import { VirtualList } from '../virtual-list';
import type { RowWindow } from '../virtual-window';
import type { ErrorInfo } from '../../../common/contract';

const pageSize = 1000;

/**
 * The file's thumbnail once the vault made one (issue 11): only for content the vault holds;
 * a blank square until then, or when none can be made. See [Note: Pictures travel as URLs]
 * in main/engine/library/media.ts.
 */
function QueueThumb({ row }: { row: FileRow }) {
  const [failed, setFailed] = useState(false);
  const held = row.sha256 !== null && (row.state === 'backed_up' || row.state === 'duplicate');
  if (!held || failed || row.sha256 === null) return <span className="queue-thumb" aria-hidden />;
  return (
    <img
      className="queue-thumb"
      src={mediaPath(row.sha256, 'thumbnail')}
      alt=""
      decoding="async"
      data-testid="queue-thumb"
      onError={() => setFailed(true)}
    />
  );
}
const rowHeight = 64;

export const stateWords: Record<FileState, string> = {
  discovered: 'Found',
  hashing: 'Checking',
  queued: 'Queued',
  uploading: 'Uploading',
  backed_up: 'Backed up',
  duplicate: 'Duplicate',
  excluded: 'Excluded',
  failed: 'Failed',
  missing: 'Missing',
  skipped: 'Skipped',
  vault_only: 'On the vault only',
};

/** Why a file is in its state, in full (the row shows one line of it). */
function reasonOf(row: FileRow): string | null {
  if (row.error) return row.error.message;
  // An empty photo is on the vault, but it holds no picture: the problem comes first.
  if (row.problem)
    return `${row.problem.message[0]?.toUpperCase() ?? ''}${row.problem.message.slice(1)}.`;
  if (row.state === 'vault_only') {
    return "Freed up at your request: moved to the system's trash, kept on the vault. Restore puts it back in its place.";
  }
  if (row.state === 'duplicate') {
    return row.duplicateOf
      ? `Duplicate of another file here: ${row.duplicateOf}`
      : 'Already on the vault (the same content was backed up before).';
  }
  if (row.excludedBy) {
    return row.state === 'skipped'
      ? `Skipped: ${row.excludedBy}`
      : `Excluded by the rule ${row.excludedBy}`;
  }
  return null;
}

/** Everything known about one file, with its reason in full: the row shows one line of it. */
function FileDetail({ row, onClose }: { row: FileRow; onClose: () => void }) {
  const reason = reasonOf(row);
  return (
    <section className="file-detail" data-testid="file-detail" aria-label="File details">
      <div className="file-detail-head">
        <h2 className="name">{fileName(row.path)}</h2>
        <span className={`badge state-${row.state}`}>{stateWords[row.state]}</span>
        <span className="spacer" />
        <button type="button" data-testid="file-detail-close" onClick={onClose}>
          Close
        </button>
      </div>
      {reason && (
        <p className={row.state === 'failed' ? 'file-error' : ''} data-testid="file-detail-reason">
          {reason}
        </p>
      )}
      <dl>
        <dt>Path</dt>
        <dd>{row.path}</dd>
        <dt>Size</dt>
        <dd>{formatBytes(row.size)}</dd>
        <dt>Changed</dt>
        <dd>{formatDateTime(row.mtimeMs)}</dd>
        {row.error && (
          <>
            <dt>Error code</dt>
            <dd>
              <code>{row.error.code}</code>
              {row.error.retryable ? ' (retrying may help)' : ' (retrying will not help)'}
            </dd>
          </>
        )}
        {row.attempts > 0 && (
          <>
            <dt>Attempts</dt>
            <dd>{formatCount(row.attempts)}</dd>
          </>
        )}
        {row.nextAttemptAt !== null && (
          <>
            <dt>Next try</dt>
            <dd>{formatDateTime(row.nextAttemptAt)}</dd>
          </>
        )}
        {row.sha256 && (
          <>
            <dt>SHA-256</dt>
            <dd>
              <code>{row.sha256}</code>
            </dd>
          </>
        )}
        {row.metadataProblems.length > 0 && (
          <>
            <dt>Metadata</dt>
            <dd>{row.metadataProblems.join('; ')}</dd>
          </>
        )}
      </dl>
    </section>
  );
}

interface ListState {
  /** The state filter and search these rows were fetched for (see queryOf). */
  query: string;
  rows: FileRow[];
  total: number;
  next: string | null;
  done: boolean;
}

const queryOf = (filter: FileState | 'all', search: string) => JSON.stringify([filter, search]);

export function QueuePage() {
  const status = useSharedStatus();
  const [filter, setFilter] = useState<FileState | 'all'>('all');
  const [searchText, setSearchText] = useState('');
  const [search, setSearch] = useState('');
  const [list, setList] = useState<ListState | null>(null);
  const [error, setError] = useState<ErrorInfo>();
  const [notice, setNotice] = useState<string>();
  const loading = useRef(false);
  const generation = useRef(0);
  const [wantedEnd, setWantedEnd] = useState(0);
  const action = useAction();
  const [receiptFor, setReceiptFor] = useState<number | null>(null);
  const closeReceipt = useCallback(() => setReceiptFor(null), []);
  const [picked, setPicked] = useState<FileRow | null>(null);

  useEffect(() => {
    const timer = setTimeout(() => setSearch(searchText.trim()), 250);
    return () => clearTimeout(timer);
  }, [searchText]);

  const fetchPage = useCallback(
    async (cursor: string | null, gen: number) => {
      loading.current = true;
      const res = await bridge.invoke('files.list', {
        ...(filter === 'all' ? {} : { state: filter }),
        ...(search ? { search } : {}),
        limit: pageSize,
        cursor,
      });
      loading.current = false;
      if (gen !== generation.current) return;
      if (!res.ok) {
        setError(res.error);
        return;
      }
      setError(undefined);
      setList((prev) => {
        const rows =
          cursor === null || !prev ? res.value.files : [...prev.rows, ...res.value.files];
        return {
          query: queryOf(filter, search),
          rows,
          total: res.value.total,
          next: res.value.next,
          done: res.value.next === null,
        };
      });
    },
    [filter, search],
  );

  const reset = useCallback(() => {
    const gen = ++generation.current;
    void fetchPage(null, gen);
  }, [fetchPage]);

  useEffect(() => {
    setList(null);
    reset();
  }, [reset]);

  // Keep fetching pages while the visible window reaches past what is loaded.
  useEffect(() => {
    if (!list || list.done || loading.current || error) return;
    if (wantedEnd > list.rows.length - pageSize / 5) void fetchPage(list.next, generation.current);
  }, [list, wantedEnd, fetchPage, error]);

  const onWindowChange = useCallback((win: RowWindow) => setWantedEnd(win.end), []);

  // Rows changed by the engine are applied in batches (a scan can send thousands a second):
  // one pass over the loaded rows per batch, not one per event.
  const pendingChanges = useRef(new Map<number, FileRow>());
  const flushTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(
    () => () => {
      if (flushTimer.current) clearTimeout(flushTimer.current);
    },
    [],
  );
  useEvent('file.changed', (row) => {
    pendingChanges.current.set(row.id, row);
    if (flushTimer.current) return;
    flushTimer.current = setTimeout(() => {
      flushTimer.current = null;
      const changes = pendingChanges.current;
      pendingChanges.current = new Map();
      setList((prev) => {
        if (!prev) return prev;
        let changed = false;
        const rows = prev.rows.map((r) => {
          const next = changes.get(r.id);
          if (!next) return r;
          changed = true;
          return next;
        });
        return changed ? { ...prev, rows } : prev;
      });
    }, 250);
  });

  // The counts moved (files added, finished or failed): refetch, at most once a second.
  const countsKey = status.data ? JSON.stringify(status.data.counts) : '';
  const firstKey = useRef(countsKey);
  useEffect(() => {
    if (countsKey === firstKey.current) return;
    const timer = setTimeout(reset, 1000);
    return () => clearTimeout(timer);
  }, [countsKey, reset]);

  const counts = status.data?.counts;
  const options = useMemo(
    () =>
      fileStates.map((s) => ({
        value: s,
        label: `${stateWords[s]}${counts ? ` (${formatCount(counts[s])})` : ''}`,
      })),
    [counts],
  );

  const retry = async (row: FileRow) => {
    const done = await action.run('files.retry', { id: row.id });
    if (done) {
      setNotice(`Retrying ${fileName(row.path)}`);
      reset();
    }
  };
  const retryAll = async () => {
    const done = await action.run('files.retryAll', {});
    if (done) {
      setNotice(`Retrying ${formatCount(done.retried)} files`);
      reset();
    }
  };

  // Only rows fetched for what the toolbar says now are shown: while the search is debounced
  // or a fetch for it is in flight, the page says it is loading instead of listing rows the
  // box excludes (a refetch, e.g. on a change in the counts, keeps the same query).
  const shown = list && list.query === queryOf(filter, searchText.trim()) ? list : null;

  // The row as last loaded or changed (file.changed events keep it current).
  // Kept when a new filter no longer lists it: the detail stays open until closed.
  const selected = picked && (list?.rows.find((r) => r.id === picked.id) ?? picked);

  const renderRow = (index: number) => {
    const row = list?.rows[index];
    if (!row) return <div className="file-row placeholder">Loading…</div>;
    const reason = reasonOf(row);
    return (
      <div
        className="file-row"
        data-testid="file-row"
        data-index={index}
        data-state={row.state}
        data-path={row.path}
      >
        <QueueThumb key={row.sha256 ?? ''} row={row} />
        <div className="file-main">
          <span className="name" title={row.path}>
            {row.relPath || fileName(row.path)}
          </span>
          <span className="muted small">
            {formatBytes(row.size)} · changed {formatDateTime(row.mtimeMs)}
            {row.excludedBy
              ? ` · ${row.state === 'skipped' ? 'skipped' : 'excluded'} (${row.excludedBy})`
              : ''}
            {row.state === 'duplicate'
              ? row.duplicateOf
                ? ` · duplicate of ${fileName(row.duplicateOf)} here`
                : ' · already on the vault'
              : ''}
            {row.metadataProblems.length > 0 ? ` · ${row.metadataProblems.join('; ')}` : ''}
          </span>
          {row.error && row.state === 'failed' && (
            <span className="file-error" data-testid="file-error" title={reason ?? undefined}>
              {row.error.message}
              {row.nextAttemptAt ? ` (next try ${formatDateTime(row.nextAttemptAt)})` : ''}
            </span>
          )}
          {row.problem && (
            <span className="file-error" data-testid="file-problem" title={reason ?? undefined}>
              {row.problem.message}
            </span>
          )}
        </div>
        <span className={`badge state-${row.state}`}>{stateWords[row.state]}</span>
        <button
          type="button"
          data-testid="file-details"
          aria-expanded={picked?.id === row.id}
          aria-label={`Details of ${fileName(row.path)}`}
          onClick={() => setPicked(picked?.id === row.id ? null : row)}
        >
          Details
        </button>
        {row.state === 'failed' ? (
          <button
            type="button"
            data-testid="retry-file"
            disabled={action.busy}
            onClick={() => void retry(row)}
          >
            Retry
          </button>
        ) : row.state === 'backed_up' || row.state === 'duplicate' ? (
          <button
            type="button"
            className="row-action-space"
            data-testid="file-receipt-open"
            onClick={() => setReceiptFor(row.id)}
          >
            Receipt
          </button>
        ) : (
          <span className="row-action-space" />
        )}
      </div>
    );
  };

  return (
    <div className="queue">
      <div className="toolbar">
        <label>
          State{' '}
          <select
            value={filter}
            data-testid="queue-filter"
            onChange={(e) => setFilter(e.target.value as FileState | 'all')}
          >
            <option value="all">
              All files
              {counts
                ? ` (${formatCount(Object.values(counts).reduce((sum, n) => sum + n, 0))})`
                : ''}
            </option>
            {options.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Search{' '}
          <input
            type="search"
            value={searchText}
            placeholder="Part of a path"
            data-testid="queue-search"
            onChange={(e) => setSearchText(e.target.value)}
          />
        </label>
        <span className="spacer" />
        <button
          type="button"
          data-testid="retry-all"
          disabled={action.busy || !counts || counts.failed === 0}
          onClick={() => void retryAll()}
        >
          Retry all failed
        </button>
      </div>
      <InlineError error={action.error} />
      {receiptFor !== null && <FileReceiptPanel fileId={receiptFor} onClose={closeReceipt} />}
      {selected && <FileDetail row={selected} onClose={() => setPicked(null)} />}
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {error && !shown ? (
        <ErrorState error={error} retry={reset} />
      ) : !shown ? (
        <Loading what="the queue" />
      ) : shown.total === 0 ? (
        <Empty>
          <p>
            {filter === 'all' && !search
              ? 'No files yet. Add a folder on the Folders page.'
              : 'No file matches this filter.'}
          </p>
        </Empty>
      ) : (
        <>
          {error && <InlineError error={error} />}
          <p className="muted" data-testid="queue-total" data-value={shown.total}>
            {formatCount(shown.total)} files
          </p>
          <VirtualList
            count={shown.total}
            rowHeight={rowHeight}
            renderRow={renderRow}
            onWindowChange={onWindowChange}
            label="Files"
            testId="queue-list"
          />
        </>
      )}
    </div>
  );
}
