// The groups tables (migration 0008): which contents are one asset to a person, and each
// one's role. SQL for them lives here and nowhere else; VaultIndex owns the connection (the
// Sql port, sql.ts).
// Invariant: a content is in at most one group, every member is a content the vault holds,
// and every group has exactly one primary and at least two members, after every commit (See
// [Note: A declaration replaces] in common/vault-protocol.ts): a declaration that takes a
// group's primary or leaves it with one member ends that group in the same transaction; a
// declaration never changes a group that another live declarer made (it is refused whole,
// status 'conflict'). Every read a declaration's outcome depends on (which contents are held,
// who holds each group, which devices are live) is made in the transaction that writes it.
import type { GroupRole } from '../../common/vault-protocol.js';
import { heldAmong } from './held-contents.js';
import type { Sql } from './sql.js';

export interface GroupMemberRecord {
  sha256: string;
  role: GroupRole;
}

export interface GroupRecord {
  id: number;
  /** in declared order */
  members: GroupMemberRecord[];
  /** unix ms, vault clock */
  declaredAt: number;
}

/** Who declares: a devices.id, or ADMIN_DECLARER for the admin token. */
export const ADMIN_DECLARER = 'admin';

export type DeclareOutcome =
  | { status: 'stored'; id: number; change: 'created' | 'replaced' | 'unchanged' }
  | { status: 'dissolved' }
  /** refused whole: these declared contents are not in the vault */
  | { status: 'not_held'; notHeld: string[] }
  | {
      status: 'conflict';
      /** the name of the device whose groups hold `members` ("the admin token" for it) */
      heldBy: string;
      /** the declared contents that are in that device's groups */
      members: string[];
    };

interface MembershipRow {
  group_id: number;
  role: GroupRole;
}

interface DeclarerRow {
  declared_by: string | null;
  /** the devices row's name when declared_by names a device */
  name: string | null;
  revoked_at: number | null;
}

const MEMBERSHIP = 'SELECT group_id, role FROM group_members WHERE sha256 = ?';
const MEMBERS = 'SELECT sha256, role FROM group_members WHERE group_id = ? ORDER BY position';
const DELETE_MEMBERS_OF = 'DELETE FROM group_members WHERE group_id = ?';
const DELETE_MEMBER = 'DELETE FROM group_members WHERE sha256 = ?';

export class GroupStore {
  constructor(private readonly sql: Sql) {}

  /**
   * Records many declarations in ONE transaction, synced before the answer (See [Note: Which
   * commits are synced] in vault-index.ts): the client is told its groups are stored. Each
   * declaration has exactly one primary and each content once (checked by the caller's
   * schema); one that names a content the vault does not hold is refused whole ('not_held').
   * The work reads everything it decides on through its transaction, so PostgreSQL may run
   * it again after a lost race (See [Note: Transactions are the only atomicity] in sql.ts).
   */
  declareMany(
    declarations: readonly (readonly GroupMemberRecord[])[],
    at: number,
    /** a devices.id, or ADMIN_DECLARER */
    by: string = ADMIN_DECLARER,
  ): Promise<DeclareOutcome[]> {
    return this.sql.transaction(
      async (tx) => {
        const held = await heldAmong(tx, [
          ...new Set(declarations.flatMap((d) => d.map((m) => m.sha256))),
        ]);
        const outcomes: DeclareOutcome[] = [];
        for (const d of declarations) {
          const notHeld = d.map((m) => m.sha256).filter((s) => !held.has(s));
          outcomes.push(
            notHeld.length > 0 ? { status: 'not_held', notHeld } : await declareOne(tx, d, at, by),
          );
        }
        return outcomes;
      },
      { durable: true },
    );
  }

  /** A group and its members, read in one transaction (they agree). */
  get(id: number): Promise<GroupRecord | undefined> {
    return this.sql.transaction(async (tx) => {
      const row = await tx.get<{ id: number; declared_at: number }>(
        'SELECT id, declared_at FROM groups WHERE id = ?',
        [id],
      );
      if (!row) return undefined;
      return {
        id: row.id,
        members: await tx.all<GroupMemberRecord>(MEMBERS, [id]),
        declaredAt: row.declared_at,
      };
    });
  }

  /** The group of one content and its role there; undefined when it stands alone. */
  async ofContent(sha256: string): Promise<{ id: number; role: GroupRole } | undefined> {
    const row = await this.sql.get<MembershipRow>(MEMBERSHIP, [sha256]);
    return row ? { id: row.group_id, role: row.role } : undefined;
  }
}

/**
 * Who else holds group `groupId`: null when `by` may change it (its own, declared before
 * declarers were kept, or by a device since revoked), else that declarer's name.
 */
async function otherDeclarer(tx: Sql, groupId: number, by: string): Promise<string | null> {
  const row = await tx.get<DeclarerRow>(
    `SELECT g.declared_by, d.name, d.revoked_at
       FROM groups g LEFT JOIN devices d ON d.id = g.declared_by WHERE g.id = ?`,
    [groupId],
  );
  if (!row || row.declared_by === null || row.declared_by === by) return null;
  if (row.declared_by === ADMIN_DECLARER) return 'the admin token';
  if (row.name === null || row.revoked_at !== null) return null; // no live device holds it
  return row.name;
}

async function declareOne(
  tx: Sql,
  members: readonly GroupMemberRecord[],
  at: number,
  by: string,
): Promise<DeclareOutcome> {
  const primary = members.find((m) => m.role === 'primary');
  if (!primary) throw new Error('a group declaration without a primary reached the store');
  const current = await tx.get<MembershipRow>(MEMBERSHIP, [primary.sha256]);
  const leads = current?.role === 'primary' ? current.group_id : undefined;

  // What another device declared is not taken from it: the same group declared again is
  // no change, anything that would move its members is refused whole, nothing moved.
  if (
    leads !== undefined &&
    members.length > 1 &&
    sameMembers(await tx.all<GroupMemberRecord>(MEMBERS, [leads]), members)
  ) {
    if ((await otherDeclarer(tx, leads, by)) === null) {
      await tx.run('UPDATE groups SET declared_by = ? WHERE id = ?', [by, leads]);
    }
    return { status: 'stored', id: leads, change: 'unchanged' };
  }
  const touched = new Map<number, string[]>();
  for (const m of members) {
    const was = await tx.get<MembershipRow>(MEMBERSHIP, [m.sha256]);
    if (!was) continue;
    const list = touched.get(was.group_id);
    if (list) list.push(m.sha256);
    else touched.set(was.group_id, [m.sha256]);
  }
  for (const [groupId, contents] of touched) {
    const heldBy = await otherDeclarer(tx, groupId, by);
    if (heldBy !== null) return { status: 'conflict', heldBy, members: contents };
  }

  if (members.length === 1) {
    if (leads !== undefined) await endGroup(tx, leads);
    else if (current) await leave(tx, primary.sha256, current.group_id);
    return { status: 'dissolved' };
  }

  let id: number;
  let change: 'created' | 'replaced';
  if (leads !== undefined) {
    id = leads;
    change = 'replaced';
    await tx.run(DELETE_MEMBERS_OF, [id]);
    await tx.run('UPDATE groups SET declared_at = ?, declared_by = ? WHERE id = ?', [at, by, id]);
  } else {
    const row = await tx.get<{ id: number }>(
      'INSERT INTO groups (declared_at, declared_by) VALUES (?, ?) RETURNING id',
      [at, by],
    );
    if (row === undefined) throw new Error('inserting a group returned no id');
    id = row.id;
    change = 'created';
  }
  const left = new Set<number>();
  for (const [position, m] of members.entries()) {
    const was = await tx.get<MembershipRow>(MEMBERSHIP, [m.sha256]);
    if (was) {
      await tx.run(DELETE_MEMBER, [m.sha256]);
      left.add(was.group_id);
    }
    await tx.run(
      'INSERT INTO group_members (sha256, group_id, role, position) VALUES (?, ?, ?, ?)',
      [m.sha256, id, m.role, position],
    );
  }
  left.delete(id);
  for (const gid of left) await endIfBroken(tx, gid);
  return { status: 'stored', id, change };
}

/** Takes one content out of its group, ending the group when that breaks it. */
async function leave(tx: Sql, sha256: string, groupId: number): Promise<void> {
  await tx.run(DELETE_MEMBER, [sha256]);
  await endIfBroken(tx, groupId);
}

/** A group without its primary, or with one member left, is no group: it ends. */
async function endIfBroken(tx: Sql, groupId: number): Promise<void> {
  // CASE, not SUM(role = 'primary'): PostgreSQL has no SUM of a boolean.
  const shape = await tx.get<{ members: number; primaries: number }>(
    `SELECT COUNT(*) AS members,
            COALESCE(SUM(CASE WHEN role = 'primary' THEN 1 ELSE 0 END), 0) AS primaries
     FROM group_members WHERE group_id = ?`,
    [groupId],
  );
  if (!shape || shape.members < 2 || shape.primaries !== 1) await endGroup(tx, groupId);
}

async function endGroup(tx: Sql, groupId: number): Promise<void> {
  await tx.run(DELETE_MEMBERS_OF, [groupId]);
  await tx.run('DELETE FROM groups WHERE id = ?', [groupId]);
}

function sameMembers(
  stored: readonly GroupMemberRecord[],
  declared: readonly GroupMemberRecord[],
): boolean {
  return (
    stored.length === declared.length &&
    stored.every((m, i) => m.sha256 === declared[i]?.sha256 && m.role === declared[i]?.role)
  );
}
