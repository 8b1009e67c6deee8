// Activity: recent events and errors in plain words, live; and "export diagnostics" (a JSON
// bundle of logs and status that the engine builds without any token in it).
import { useState } from 'react';
import type { ActivityEvent } from '../../../common/contract';
import { formatDateTime } from '../format';
import { useAction, useCommand, useEvent } from '../hooks';
import { Empty, InlineError, QueryView } from '../ui';

export function ActivityPage() {
  const query = useCommand('activity.list', { limit: 200 });
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
          const all = [...live, ...loaded]
            .filter((e) => (seen.has(e.id) ? false : (seen.add(e.id), true)))
            .sort((a, b) => b.at - a.at)
            .filter((e) => !onlyProblems || e.level !== 'info');
          if (all.length === 0) {
            return (
              <Empty>
                <p>{onlyProblems ? 'No problems. ' : 'Nothing has happened yet.'}</p>
              </Empty>
            );
          }
          return (
            <ul className="activity-list" data-testid="activity-list">
              {all.map((e) => (
                <li key={e.id} className={`level-${e.level}`}>
                  <span className={`badge level-${e.level}`}>
                    {e.level === 'error' ? 'Error' : e.level === 'warning' ? 'Warning' : 'Info'}
                  </span>
                  <time dateTime={new Date(e.at).toISOString()}>{formatDateTime(e.at)}</time>
                  <span className="message">{e.message}</span>
                  {e.path && <span className="muted small path">{e.path}</span>}
                </li>
              ))}
            </ul>
          );
        }}
      </QueryView>
    </>
  );
}
