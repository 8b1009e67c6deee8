// Free up space on this computer (issue 15 section 2), in the UI: the Storage page's offer
// ("Free up N GB on this computer") with its confirmation, and the per-folder toggle on the
// Folders page. Nothing moves until the person has seen what will go and what is kept, and why,
// and confirmed; the engine checks every file again right before it moves it (freeUp.run with
// `only` = the confirmed paths). See [Note: What may be freed up] in main/engine/free-up/.
import { useState } from 'react';
import type { Folder, FreeUpResult } from '../../common/contract';
import { countOf, formatBytes, formatCount } from './format';
import { useAction, useCommand, useEvent } from './hooks';
import { InlineError } from './ui';

/** Lines shown of a long list (the rest are counted). */
const shown = 200;

function PathList(props: { testId: string; items: { path: string; detail: string }[] }) {
  const { items } = props;
  return (
    <ul className="free-up-list" data-testid={props.testId} data-count={items.length}>
      {items.slice(0, shown).map((i) => (
        <li key={i.path} data-path={i.path}>
          <span className="path">{i.path}</span> <span className="muted">{i.detail}</span>
        </li>
      ))}
      {items.length > shown && (
        <li className="muted">…and {formatCount(items.length - shown)} more</li>
      )}
    </ul>
  );
}

function Kept({ kept }: { kept: FreeUpResult['kept'] }) {
  if (kept.length === 0) return null;
  return (
    <>
      <h3>Kept on this computer ({formatCount(kept.length)})</h3>
      <PathList
        testId="free-up-kept"
        items={kept.map((k) => ({ path: k.path, detail: k.reason }))}
      />
    </>
  );
}

/** The Storage page's section: the offer, the confirmation, the result. */
export function FreeUpSection() {
  const estimate = useCommand('freeUp.estimate', {});
  useEvent('folders.changed', () => estimate.reload());
  const action = useAction();
  const [plan, setPlan] = useState<FreeUpResult>();
  const [done, setDone] = useState<FreeUpResult>();
  const e = estimate.data;
  const planBytes = plan?.candidates.reduce((n, c) => n + c.bytes, 0) ?? 0;

  const check = async () => {
    setDone(undefined);
    const result = await action.run('freeUp.plan', {});
    if (result) setPlan(result);
  };
  const confirm = async () => {
    if (!plan) return;
    const result = await action.run('freeUp.run', { only: plan.candidates.map((c) => c.path) });
    if (result) {
      setPlan(undefined);
      setDone(result);
      estimate.reload();
    }
  };

  return (
    <section className="free-up" data-testid="free-up">
      <h2>Free up space on this computer</h2>
      {e === undefined ? (
        <InlineError error={estimate.error} />
      ) : !e.allowed ? (
        <p className="source" data-testid="free-up-locked">
          {e.lockedByPolicy ? '🔒 Locked · Set by your organisation' : 'Turned off in Settings.'}
        </p>
      ) : e.foldersAllowed === 0 ? (
        <p className="muted" data-testid="free-up-no-folder">
          No folder allows freeing up space yet. Turn it on for a folder on the Folders page:
          Keepsake then moves backed-up photos and videos of that folder to the system&apos;s trash
          when you ask here, and keeps them on the vault.
        </p>
      ) : (
        <>
          <p className="muted">
            Backed-up files of {formatCount(e.foldersAllowed)} of {formatCount(e.folders)} folders
            may go to the system&apos;s trash (never deleted), each only after the vault has
            re-verified it and its bytes were read again. They stay on the vault, and Restore puts
            them back.
          </p>
          {!plan && (
            <button
              type="button"
              className="primary"
              data-testid="free-up-start"
              data-bytes={e.bytes}
              disabled={action.busy || e.files === 0}
              onClick={() => void check()}
            >
              {action.busy
                ? 'Checking with the vault and reading the files again…'
                : `Free up ${formatBytes(e.bytes)} on this computer`}
            </button>
          )}
        </>
      )}
      {plan && (
        <div
          className="free-up-confirm"
          data-testid="free-up-confirm"
          role="dialog"
          aria-label="Confirm free up"
        >
          {plan.candidates.length === 0 ? (
            <p data-testid="free-up-nothing">Nothing can be freed up right now.</p>
          ) : (
            <>
              <h3>
                Will go to the system&apos;s trash (
                {countOf(plan.candidates.length, 'file', 'files')}, {formatBytes(planBytes)})
              </h3>
              <PathList
                testId="free-up-candidates"
                items={plan.candidates.map((c) => ({ path: c.path, detail: formatBytes(c.bytes) }))}
              />
            </>
          )}
          <Kept kept={plan.kept} />
          <div className="actions">
            {plan.candidates.length > 0 && (
              <button
                type="button"
                className="danger"
                data-testid="free-up-confirm-move"
                disabled={action.busy}
                onClick={() => void confirm()}
              >
                Move {countOf(plan.candidates.length, 'file', 'files')} ({formatBytes(planBytes)})
                to the trash
              </button>
            )}
            <button type="button" data-testid="free-up-cancel" onClick={() => setPlan(undefined)}>
              {plan.candidates.length > 0 ? 'Cancel' : 'Close'}
            </button>
          </div>
        </div>
      )}
      {done && (
        <div data-testid="free-up-done" data-freed={done.freed.length}>
          <p className="notice" role="status">
            Freed up {formatBytes(done.freedBytes)} ({countOf(done.freed.length, 'file', 'files')}):
            in the system&apos;s trash and on the vault. Restore puts them back in their place.
          </p>
          <Kept kept={done.kept} />
        </div>
      )}
      <InlineError error={action.error} />
    </section>
  );
}

/** The Folders page's toggle: may this folder's backed-up files be freed up on request? */
export function FreeUpToggle({ folder, onChanged }: { folder: Folder; onChanged: () => void }) {
  const settings = useCommand('settings.get', {});
  const action = useAction();
  const setting = settings.data?.freeUpAllowed;
  const locked = setting !== undefined && setting.locked && !setting.value;
  const freed = folder.counts.vault_only;
  return (
    <div className="free-up-toggle" data-testid="free-up-toggle">
      <label>
        <input
          type="checkbox"
          data-testid="free-up-folder"
          checked={folder.freeUp && !locked}
          disabled={locked || action.busy}
          onChange={(e) =>
            void action
              .run('folders.setFreeUp', { id: folder.id, allowed: e.target.checked })
              .then((r) => r && onChanged())
          }
        />{' '}
        Allow freeing up space (backed-up files go to the system&apos;s trash when you ask, from
        Storage)
      </label>
      {locked && (
        <span className="source" data-testid="free-up-folder-locked">
          {' '}
          🔒 Locked · Set by your organisation
        </span>
      )}
      {freed > 0 && (
        <span className="muted small" data-testid="folder-vault-only" data-value={freed}>
          {' '}
          · {formatCount(freed)} on the vault only
        </span>
      )}
      <InlineError error={action.error} />
    </div>
  );
}
