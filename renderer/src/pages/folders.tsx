// Folders: add (a path, or the system picker in the desktop app), remove, counts, exclusions.
import { useState, type FormEvent } from 'react';
import type { Folder } from '../../../common/contract';
import { bridge } from '../bridge';
import { formatBytes, formatCount, formatDateTime } from '../format';
import { useAction, useCommand, useEvent } from '../hooks';
import { Empty, InlineError, QueryView } from '../ui';
import { FreeUpToggle } from '../free-up';

const modeWords: Record<Folder['mode'], string> = {
  watching: 'Watching for changes',
  polling: 'Checking periodically',
  offline: 'Offline',
  scanning: 'Scanning',
};

function splitRules(text: string): string[] {
  return text
    .split(/\n|,/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function FolderCard({ folder, onChanged }: { folder: Folder; onChanged: () => void }) {
  const action = useAction();
  const [editing, setEditing] = useState(false);
  const [exclude, setExclude] = useState(folder.exclude.join('\n'));
  const [confirming, setConfirming] = useState(false);
  const c = folder.counts;
  const waiting = c.discovered + c.hashing + c.queued + c.uploading;
  return (
    <li className="card folder" data-testid="folder-card" data-path={folder.path}>
      <div className="folder-head">
        <h3 className="path">{folder.path}</h3>
        <span className={`badge mode-${folder.mode}`}>{modeWords[folder.mode]}</span>
        {folder.problems.length > 0 && (
          <span className="badge mode-offline" data-testid="folder-needs-attention">
            Needs attention
          </span>
        )}
      </div>
      {folder.modeDetail && <p className="muted">{folder.modeDetail}</p>}
      {folder.problems.length > 0 && (
        <ul className="folder-problems" data-testid="folder-problems" role="alert">
          {folder.problems.map((p) => (
            <li key={p.path} data-testid="folder-problem" data-path={p.path}>
              <strong>Cannot read.</strong> {p.message}
            </li>
          ))}
        </ul>
      )}
      <p className="folder-counts">
        <span data-testid="folder-backed-up" data-value={c.backed_up + c.duplicate}>
          {formatCount(c.backed_up + c.duplicate)} safe
        </span>
        {' · '}
        {formatCount(waiting)} waiting · {formatCount(c.failed)} failed · {formatCount(c.excluded)}{' '}
        excluded · {formatBytes(folder.bytesSafe)} of {formatBytes(folder.bytesTotal)}
      </p>
      <p className="muted small">
        {folder.lastScanAt
          ? `Last full scan ${formatDateTime(folder.lastScanAt)}`
          : 'Not scanned yet'}
        {folder.exclude.length > 0 ? ` · Excluding ${folder.exclude.join(', ')}` : ''}
      </p>
      <FreeUpToggle folder={folder} onChanged={onChanged} />
      {editing && (
        <div className="rules">
          <label>
            Exclude (one pattern per line, e.g. <code>**/*.tmp</code> or <code>Screenshots/**</code>
            )
            <textarea value={exclude} rows={4} onChange={(e) => setExclude(e.target.value)} />
          </label>
        </div>
      )}
      <div className="actions">
        {editing ? (
          <>
            <button
              type="button"
              className="primary"
              disabled={action.busy}
              onClick={() =>
                void action
                  .run('folders.setRules', {
                    id: folder.id,
                    include: folder.include,
                    exclude: splitRules(exclude),
                  })
                  .then((r) => {
                    if (r) {
                      setEditing(false);
                      onChanged();
                    }
                  })
              }
            >
              Save exclusions
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </>
        ) : (
          <button type="button" onClick={() => setEditing(true)}>
            Exclusions…
          </button>
        )}
        {confirming ? (
          <>
            <span>Stop backing up this folder? Files already on the vault stay there.</span>
            <button
              type="button"
              className="danger"
              disabled={action.busy}
              onClick={() =>
                void action.run('folders.remove', { id: folder.id }).then(() => onChanged())
              }
            >
              Remove
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Keep
            </button>
          </>
        ) : folder.requiredByPolicy ? (
          <span className="source" data-testid="folder-required">
            🔒 Required by your organisation
          </span>
        ) : (
          <button type="button" onClick={() => setConfirming(true)}>
            Remove…
          </button>
        )}
      </div>
      <InlineError error={action.error} />
    </li>
  );
}

export function FoldersPage() {
  const folders = useCommand('folders.list', {});
  useEvent('folders.changed', () => folders.reload());
  const [path, setPath] = useState('');
  const [added, setAdded] = useState<{ path: string; already: boolean }>();
  const action = useAction();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const trimmed = path.trim();
    if (!trimmed) return;
    // Adding a watched folder again changes nothing; the answer is the folder already there.
    const known = new Set((folders.data ?? []).map((f) => f.id));
    const folder = await action.run('folders.add', { path: trimmed });
    if (folder) {
      setAdded({ path: folder.path, already: known.has(folder.id) });
      setPath('');
      folders.reload();
    }
  };

  const pick = async () => {
    const chosen = await bridge.pickFolder?.();
    if (chosen) setPath(chosen);
  };

  return (
    <>
      <form className="add-folder" onSubmit={(e) => void submit(e)} aria-label="Add a folder">
        <label htmlFor="add-folder-input">Folder to back up</label>
        <div className="row">
          <input
            id="add-folder-input"
            data-testid="add-folder-input"
            type="text"
            value={path}
            placeholder="/home/you/Pictures"
            spellCheck={false}
            autoComplete="off"
            onChange={(e) => setPath(e.target.value)}
          />
          {bridge.pickFolder && (
            <button type="button" onClick={() => void pick()}>
              Choose…
            </button>
          )}
          <button
            type="submit"
            className="primary"
            data-testid="add-folder-submit"
            disabled={action.busy || !path.trim()}
          >
            Add folder
          </button>
        </div>
        <InlineError error={action.error} />
        {added && !action.error && (
          <p className="notice" role="status" data-testid="add-folder-done">
            {added.already
              ? `${added.path} is already watched.`
              : `Added ${added.path}. Keepsake is scanning it now.`}
          </p>
        )}
      </form>
      <QueryView query={folders} what="the folders">
        {(list) =>
          list.length === 0 ? (
            <Empty>
              <p>No folders yet. Add the folder where your photos and videos live.</p>
            </Empty>
          ) : (
            <ul className="folder-list">
              {list.map((f) => (
                <FolderCard
                  key={`${f.id}:${f.exclude.join('|')}`}
                  folder={f}
                  onChanged={folders.reload}
                />
              ))}
            </ul>
          )
        }
      </QueryView>
    </>
  );
}
