// Activity: recent events and errors in plain words, live; and "export diagnostics" (a JSON
// bundle of logs and status that the engine builds without any token in it). Problems come
// first; the files backed up one after another are one line each run of them ("Backed up 240
// files"), so a failure is never buried under a page of successes (issue 9).
import { useState } from 'react';
import type { ActivityEvent } from '../../../common/contract';
import { countOf, formatDateTime } from '../format';
import { useAction, useCommand, useEvent } from '../hooks';
import { Empty, InlineError, QueryView } from '../ui';

/** "Backed up IMG_1.JPG" or "Backed up 12 files" (upload-queue.ts): how many files it names. */
function backedUpCount(e: ActivityEvent): number | null {
  if (e.level !== 'info' || e.code !== null || !e.message.startsWith('Backed up ')) return null;
  const many = /^Backed up (\d+) files$/.exec(e.message);
  return many ? Number(many[1]) : 1;
}

type Folded = ActivityEvent | { first: ActivityEvent; last: ActivityEvent; count: number };

/** Neighbouring "Backed up" entries (newest first) folded into one line with their total. */
function foldBackedUp(events: ActivityEvent[]): Folded[] {
  const out: Folded[] = [];
  for (const e of events) {
    const n = backedUpCount(e);
    const prev = out[out.length - 1];
    if (n === null) out.push(e);
    else if (prev && 'count' in prev) {
      prev.count += n;
      prev.last = e;
    } else out.push({ first: e, last: e, count: n });
  }
  return out;
}

function EventItem({ e }: { e: ActivityEvent }) {
  return (
    <li className={`level-${e.level}`}>
      <span className={`badge level-${e.level}`}>
        {e.level === 'error' ? 'Error' : e.level === 'warning' ? 'Warning' : 'Info'}
      </span>
      <time dateTime={new Date(e.at).toISOString()}>{formatDateTime(e.at)}</time>
      <span className="message">{e.message}</span>
      {e.path && <span className="muted small path">{e.path}</span>}
    </li>
  );
}

export function ActivityPage() {
  const query = useCommand('activity.list', { limit: 200 });
  // Problems are read on their own: 200 backed-up files must not push them out of the page.
  const problemQuery = useCommand('activity.list', { limit: 200, problems: true });
  const [live, setLive] = useState<ActivityEvent[]>([]);
  const [onlyProblems, setOnlyProblems] = useState(false);
  const action = useAction();
  useEvent('activity', (e) => setLive((prev) => [e, ...prev].slice(0, 200)));

  const exportDiagnostics = async () => {
    const bundle = await action.run('diagnostics.export', {});
    if (!bundle) return;
    const url = URL.createObjectURL(new Blob([bundle.content], { type: 'application/json' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = bundle.filename;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };

  return (
    <>
      <div className="toolbar">
        <label>
          <input
            type="checkbox"
            checked={onlyProblems}
            onChange={(e) => setOnlyProblems(e.target.checked)}
          />{' '}
          Only problems
        </label>
        <span className="spacer" />
        <button
          type="button"
          data-testid="export-diagnostics"
          disabled={action.busy}
          onClick={() => void exportDiagnostics()}
        >
          Export diagnostics
        </button>
      </div>
      <InlineError error={action.error} />
      <QueryView query={query} what="recent activity">
        {(loaded) => {
          const seen = new Set<number>();
          const all = [...live, ...loaded, ...(problemQuery.data ?? [])]
            .filter((e) => (seen.has(e.id) ? false : (seen.add(e.id), true)))
            .sort((a, b) => b.at - a.at);
          const problems = all.filter((e) => e.level !== 'info');
          const rest = onlyProblems ? [] : foldBackedUp(all.filter((e) => e.level === 'info'));
          if (problems.length === 0 && rest.length === 0) {
            return (
              <Empty>
                <p>{onlyProblems ? 'No problems. ' : 'Nothing has happened yet.'}</p>
              </Empty>
            );
          }
          return (
            <div data-testid="activity-list">
              {problems.length > 0 && (
                <section aria-label="Problems">
                  <h2>Problems</h2>
                  <ul className="activity-list" data-testid="activity-problems">
                    {problems.map((e) => (
                      <EventItem key={e.id} e={e} />
                    ))}
                  </ul>
                </section>
              )}
              {rest.length > 0 && (
                <section aria-label="Other activity">
                  {problems.length > 0 && <h2>Other activity</h2>}
                  <ul className="activity-list" data-testid="activity-other">
                    {rest.map((item) =>
                      'count' in item ? (
                        <li
                          key={item.first.id}
                          className="level-info"
                          data-testid="activity-backed-up-group"
                          data-value={item.count}
                        >
                          <span className="badge level-info">Info</span>
                          <time dateTime={new Date(item.first.at).toISOString()}>
                            {formatDateTime(item.first.at)}
                          </time>
                          <span className="message">
                            Backed up {countOf(item.count, 'file', 'files')}
                            {formatDateTime(item.last.at) !== formatDateTime(item.first.at)
                              ? ` since ${formatDateTime(item.last.at)}`
                              : ''}
                          </span>
                        </li>
                      ) : (
                        <EventItem key={item.id} e={item} />
                      ),
                    )}
                  </ul>
                </section>
              )}
            </div>
          );
        }}
      </QueryView>
    </>
  );
}
