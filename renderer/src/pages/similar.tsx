// Similar photos (issue 15 section 1): the vault's bursts and near-copies, one group at a time,
// side by side, with the member to keep suggested. Per member: keep, or move to the vault's
// trash; the bytes each choice reclaims are shown as the choices change. "Apply all
// suggestions" moves every non-suggested member of every group at once. Nothing is deleted:
// the vault's trash keeps what is moved until its administrator empties it past the retention
// (See [Note: What the trash answers] in server/trash.ts), and "Undo" brings it back at once.
// Pictures are URLs the transport serves from the vault, like the Library's (See [Note:
// Pictures travel as URLs] in main/engine/library/media.ts).
import { useEffect, useMemo, useState } from 'react';
import {
  type CommandResult,
  type Envelope,
  mediaPath,
  type SimilarPhotoGroup as SimilarGroup,
} from '../../../common/contract';
import { bridge } from '../bridge';
import { countOf, formatBytes, formatCount } from '../format';
import { useAction, useCommand } from '../hooks';
import { Empty, InlineError, QueryView } from '../ui';

const PAGE = 50;
/** Hashes per library.trash call (the contract's limit). */
const TRASH_BATCH = 1000;

type Choice = 'keep' | 'trash';

/** The suggestion: keep the suggested member, move the others. */
function suggested(group: SimilarGroup): Record<string, Choice> {
  return Object.fromEntries(
    group.members.map((m) => [m.sha256, m.sha256 === group.suggestedKeep ? 'keep' : 'trash']),
  );
}

function kindWords(kind: SimilarGroup['kind']): string {
  return kind === 'burst' ? 'Burst' : 'Near-copies';
}

function captured(iso: string | null): string {
  if (iso === null) return 'Date unknown';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

async function trashAll(hashes: string[]): Promise<{ moved: string[]; error?: string }> {
  const moved: string[] = [];
  for (let i = 0; i < hashes.length; i += TRASH_BATCH) {
    const res = await bridge.invoke('library.trash', { sha256: hashes.slice(i, i + TRASH_BATCH) });
    if (!res.ok) return { moved, error: res.error.message };
    moved.push(...res.value.moved);
  }
  return { moved };
}

function GroupReview(props: {
  group: SimilarGroup;
  choices: Record<string, Choice>;
  onChoose: (sha256: string, choice: Choice) => void;
}) {
  const { group, choices } = props;
  return (
    <ul className="similar-members" data-testid="similar-members">
      {group.members.map((m) => {
        const choice = choices[m.sha256] ?? 'keep';
        const isSuggested = m.sha256 === group.suggestedKeep;
        return (
          <li
            key={m.sha256}
            className={`similar-member similar-${choice}`}
            data-testid="similar-member"
            data-sha256={m.sha256}
            data-choice={choice}
            data-suggested={isSuggested ? 'true' : 'false'}
          >
            <div className="similar-picture">
              <img
                src={mediaPath(m.sha256, 'preview')}
                alt={m.filename ?? 'a similar photo'}
                decoding="async"
                draggable={false}
              />
              {isSuggested && <span className="badge similar-suggested">Suggested keep</span>}
            </div>
            <p className="similar-name path">{m.filename ?? m.sha256.slice(0, 12)}</p>
            <p className="muted">
              {m.width !== null && m.height !== null
                ? `${formatCount(m.width)} × ${formatCount(m.height)}`
                : 'Size unknown'}{' '}
              · {formatBytes(m.bytes)}
            </p>
            <p className="muted">{captured(m.capturedAt)}</p>
            <fieldset className="similar-choice">
              <legend className="visually-hidden">What to do with this photo</legend>
              <label>
                <input
                  type="radio"
                  name={`choice-${m.sha256}`}
                  checked={choice === 'keep'}
                  onChange={() => props.onChoose(m.sha256, 'keep')}
                  data-testid="choose-keep"
                />{' '}
                Keep
              </label>
              <label>
                <input
                  type="radio"
                  name={`choice-${m.sha256}`}
                  checked={choice === 'trash'}
                  onChange={() => props.onChoose(m.sha256, 'trash')}
                  data-testid="choose-trash"
                />{' '}
                Move to the vault&apos;s trash{' '}
                <span className="muted">(reclaims {formatBytes(m.bytes)})</span>
              </label>
            </fieldset>
          </li>
        );
      })}
    </ul>
  );
}

export function SimilarPage() {
  const first = useCommand('similar.list', { limit: PAGE });
  const action = useAction();
  const [groups, setGroups] = useState<SimilarGroup[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [at, setAt] = useState(0);
  const [choices, setChoices] = useState<Record<string, Record<string, Choice>>>({});
  const [done, setDone] = useState<{ moved: string[]; bytes: number }>();
  const [allBusy, setAllBusy] = useState(false);
  const [allError, setAllError] = useState<string>();

  useEffect(() => {
    const loaded = first.data;
    if (loaded === undefined) return;
    setGroups(loaded.groups);
    setNext(loaded.next);
    setAt((i) => Math.min(i, Math.max(0, loaded.groups.length - 1)));
  }, [first.data]);

  const group = groups[at];
  const groupChoices = useMemo(
    () => (group === undefined ? {} : (choices[group.id] ?? suggested(group))),
    [group, choices],
  );
  const toTrash = group?.members.filter((m) => groupChoices[m.sha256] === 'trash') ?? [];
  const reclaim = toTrash.reduce((s, m) => s + m.bytes, 0);
  const keepsOne = group?.members.some((m) => groupChoices[m.sha256] !== 'trash') ?? false;

  const loadMore = async () => {
    if (next === null) return;
    const res = await bridge.invoke('similar.list', { limit: PAGE, cursor: next });
    if (res.ok) {
      setGroups((g) => [...g, ...res.value.groups]);
      setNext(res.value.next);
    }
  };

  const applyGroup = async () => {
    if (group === undefined || toTrash.length === 0) return;
    const result = await action.run('library.trash', { sha256: toTrash.map((m) => m.sha256) });
    if (!result) return;
    setDone({ moved: result.moved, bytes: reclaim });
    setGroups((g) => g.filter((x) => x.id !== group.id));
    first.reload();
  };

  const applyAll = async () => {
    if (first.data === undefined) return;
    setAllBusy(true);
    setAllError(undefined);
    // Every page, not only those loaded: "all suggestions" means every group on the vault.
    const all: SimilarGroup[] = [];
    let cursor: string | null = null;
    for (;;) {
      const res: Envelope<CommandResult<'similar.list'>> = await bridge.invoke('similar.list', {
        limit: 200,
        cursor,
      });
      if (!res.ok) {
        setAllError(res.error.message);
        setAllBusy(false);
        return;
      }
      all.push(...res.value.groups);
      if (res.value.next === null) break;
      cursor = res.value.next;
    }
    const members = all.flatMap((g) => g.members.filter((m) => m.sha256 !== g.suggestedKeep));
    const { moved, error } = await trashAll(members.map((m) => m.sha256));
    const movedSet = new Set(moved);
    setDone({
      moved,
      bytes: members.filter((m) => movedSet.has(m.sha256)).reduce((s, m) => s + m.bytes, 0),
    });
    if (error !== undefined) setAllError(error);
    setAllBusy(false);
    setAt(0);
    first.reload();
  };

  const undo = async () => {
    if (done === undefined) return;
    const result = await action.run('library.untrash', { sha256: done.moved });
    if (result) {
      setDone(undefined);
      first.reload();
    }
  };

  return (
    <div className="similar-page">
      <p className="muted">
        Bursts and near-copies (resized, re-saved or lightly edited) found on the vault. Photos you
        move to the vault&apos;s trash leave the library at once and can be brought back until the
        vault&apos;s administrator empties the trash; nothing is deleted on this computer.
      </p>
      {done !== undefined && (
        <div className="state similar-done" role="status" data-testid="similar-done">
          <p>
            Moved {countOf(done.moved.length, 'photo', 'photos')} ({formatBytes(done.bytes)}) to the
            vault&apos;s trash.
          </p>
          <button type="button" onClick={() => void undo()} disabled={action.busy}>
            Undo
          </button>
        </div>
      )}
      <InlineError error={action.error} />
      {allError !== undefined && (
        <p className="inline-error" role="alert">
          {allError}
        </p>
      )}
      <QueryView query={first} what="similar photos">
        {(page) =>
          page.totalGroups === 0 || group === undefined ? (
            <Empty>
              <p data-testid="similar-empty">
                No similar photos found. Photos are compared once the vault has made their previews.
              </p>
            </Empty>
          ) : (
            <>
              <section className="card similar-summary">
                <p data-testid="similar-total" data-bytes={page.totalReclaimableBytes}>
                  {countOf(page.totalGroups, 'group', 'groups')} of similar photos; following every
                  suggestion reclaims <strong>{formatBytes(page.totalReclaimableBytes)}</strong>.
                </p>
                <button
                  type="button"
                  onClick={() => void applyAll()}
                  disabled={allBusy || action.busy}
                  data-testid="similar-apply-all"
                >
                  Apply all suggestions ({formatBytes(page.totalReclaimableBytes)})
                </button>
              </section>
              <section
                className="similar-group"
                data-testid="similar-group"
                data-group={group.id}
                data-kind={group.kind}
                aria-label={`Group ${at + 1} of ${page.totalGroups}`}
              >
                <header className="similar-head">
                  <h2>
                    {kindWords(group.kind)} · {countOf(group.members.length, 'photo', 'photos')}
                  </h2>
                  <span className="muted" data-testid="similar-position">
                    Group {at + 1} of {page.totalGroups}
                  </span>
                </header>
                <GroupReview
                  group={group}
                  choices={groupChoices}
                  onChoose={(sha, choice) =>
                    setChoices((c) => ({ ...c, [group.id]: { ...groupChoices, [sha]: choice } }))
                  }
                />
                <footer className="similar-actions">
                  <p data-testid="similar-reclaim" data-bytes={reclaim}>
                    {toTrash.length === 0
                      ? 'Keeping every photo of this group.'
                      : `These choices reclaim ${formatBytes(reclaim)}.`}
                  </p>
                  {!keepsOne && (
                    <p className="inline-error" role="alert">
                      Keep at least one photo of the group.
                    </p>
                  )}
                  <div className="button-row">
                    <button
                      type="button"
                      onClick={() => setAt((i) => Math.max(0, i - 1))}
                      disabled={at === 0}
                    >
                      Previous
                    </button>
                    <button
                      type="button"
                      className="primary"
                      onClick={() => void applyGroup()}
                      disabled={action.busy || toTrash.length === 0 || !keepsOne}
                      data-testid="similar-apply"
                    >
                      {toTrash.length === 0
                        ? 'Nothing to move'
                        : `Move ${countOf(toTrash.length, 'photo', 'photos')} to the vault's trash`}
                    </button>
                    <button
                      type="button"
                      onClick={() => {
                        if (at + 1 >= groups.length) void loadMore();
                        setAt((i) => Math.min(i + 1, page.totalGroups - 1));
                      }}
                      disabled={at + 1 >= page.totalGroups}
                      data-testid="similar-next"
                    >
                      Next
                    </button>
                  </div>
                </footer>
              </section>
            </>
          )
        }
      </QueryView>
    </div>
  );
}
