// The groups tables (migration 0008): which contents are one asset to a person, and each
// one's role. SQL for them lives here and nowhere else; VaultIndex owns the connection.
// Invariant: a content is in at most one group, and every group has exactly one primary and
// at least two members, after every commit (See [Note: A declaration replaces] in
// common/vault-protocol.ts): a declaration that takes a group's primary or leaves it with one
// member ends that group in the same transaction; a declaration never changes a group that
// another live declarer made (it is refused whole, status 'conflict').
import type Database from 'better-sqlite3';
import type { GroupRole } from '../../common/vault-protocol.js';

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

export class GroupStore {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      membership: db.prepare<[string], MembershipRow>(
        'SELECT group_id, role FROM group_members WHERE sha256 = ?',
      ),
      members: db.prepare<[number], GroupMemberRecord>(
        'SELECT sha256, role FROM group_members WHERE group_id = ? ORDER BY position',
      ),
      group: db.prepare<[number], { id: number; declared_at: number }>(
        'SELECT id, declared_at FROM groups WHERE id = ?',
      ),
      insertGroup: db.prepare<[number, string]>(
        'INSERT INTO groups (declared_at, declared_by) VALUES (?, ?)',
      ),
      touchGroup: db.prepare<[number, string, number]>(
        'UPDATE groups SET declared_at = ?, declared_by = ? WHERE id = ?',
      ),
      claimGroup: db.prepare<[string, number]>('UPDATE groups SET declared_by = ? WHERE id = ?'),
      declarer: db.prepare<[number], DeclarerRow>(
        `SELECT g.declared_by, d.name, d.revoked_at
           FROM groups g LEFT JOIN devices d ON d.id = g.declared_by WHERE g.id = ?`,
      ),
      deleteGroup: db.prepare<[number]>('DELETE FROM groups WHERE id = ?'),
      deleteMembersOf: db.prepare<[number]>('DELETE FROM group_members WHERE group_id = ?'),
      deleteMember: db.prepare<[string]>('DELETE FROM group_members WHERE sha256 = ?'),
      insertMember: db.prepare<[string, number, string, number]>(
        'INSERT INTO group_members (sha256, group_id, role, position) VALUES (?, ?, ?, ?)',
      ),
      shape: db.prepare<[number], { members: number; primaries: number }>(
        `SELECT COUNT(*) AS members, COALESCE(SUM(role = 'primary'), 0) AS primaries
         FROM group_members WHERE group_id = ?`,
      ),
    };
  }

  /**
   * Records many declarations in ONE transaction, synced before the answer (See [Note: Which
   * commits are synced] in vault-index.ts): the client is told its groups are stored. Each
   * declaration has exactly one primary and each content once (checked by the caller's
   * schema); members are contents the vault holds (checked by the caller).
   */
  declareMany(
    declarations: readonly (readonly GroupMemberRecord[])[],
    at: number,
    /** a devices.id, or ADMIN_DECLARER */
    by: string = ADMIN_DECLARER,
  ): DeclareOutcome[] {
    this.db.pragma('synchronous = FULL');
    try {
      return this.db.transaction(() => declarations.map((d) => this.declareOne(d, at, by)))();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  /**
   * Who else holds group `groupId`: null when `by` may change it (its own, declared before
   * declarers were kept, or by a device since revoked), else that declarer's name.
   */
  private otherDeclarer(groupId: number, by: string): string | null {
    const row = this.stmts.declarer.get(groupId);
    if (!row || row.declared_by === null || row.declared_by === by) return null;
    if (row.declared_by === ADMIN_DECLARER) return 'the admin token';
    if (row.name === null || row.revoked_at !== null) return null; // no live device holds it
    return row.name;
  }

  private declareOne(
    members: readonly GroupMemberRecord[],
    at: number,
    by: string,
  ): DeclareOutcome {
    const primary = members.find((m) => m.role === 'primary');
    if (!primary) throw new Error('a group declaration without a primary reached the store');
    const current = this.stmts.membership.get(primary.sha256);
    const leads = current?.role === 'primary' ? current.group_id : undefined;

    // What another device declared is not taken from it: the same group declared again is
    // no change, anything that would move its members is refused whole, nothing moved.
    if (
      leads !== undefined &&
      members.length > 1 &&
      sameMembers(this.stmts.members.all(leads), members)
    ) {
      if (this.otherDeclarer(leads, by) === null) this.stmts.claimGroup.run(by, leads);
      return { status: 'stored', id: leads, change: 'unchanged' };
    }
    const touched = new Map<number, string[]>();
    for (const m of members) {
      const was = this.stmts.membership.get(m.sha256);
      if (!was) continue;
      const list = touched.get(was.group_id);
      if (list) list.push(m.sha256);
      else touched.set(was.group_id, [m.sha256]);
    }
    for (const [groupId, contents] of touched) {
      const heldBy = this.otherDeclarer(groupId, by);
      if (heldBy !== null) return { status: 'conflict', heldBy, members: contents };
    }

    if (members.length === 1) {
      if (leads !== undefined) this.endGroup(leads);
      else if (current) this.leave(primary.sha256, current.group_id);
      return { status: 'dissolved' };
    }

    let id: number;
    let change: 'created' | 'replaced';
    if (leads !== undefined) {
      id = leads;
      change = 'replaced';
      this.stmts.deleteMembersOf.run(id);
      this.stmts.touchGroup.run(at, by, id);
    } else {
      id = Number(this.stmts.insertGroup.run(at, by).lastInsertRowid);
      change = 'created';
    }
    const left = new Set<number>();
    members.forEach((m, position) => {
      const was = this.stmts.membership.get(m.sha256);
      if (was) {
        this.stmts.deleteMember.run(m.sha256);
        left.add(was.group_id);
      }
      this.stmts.insertMember.run(m.sha256, id, m.role, position);
    });
    left.delete(id);
    for (const gid of left) this.endIfBroken(gid);
    return { status: 'stored', id, change };
  }

  /** Takes one content out of its group, ending the group when that breaks it. */
  private leave(sha256: string, groupId: number): void {
    this.stmts.deleteMember.run(sha256);
    this.endIfBroken(groupId);
  }

  /** A group without its primary, or with one member left, is no group: it ends. */
  private endIfBroken(groupId: number): void {
    const shape = this.stmts.shape.get(groupId);
    if (!shape || shape.members < 2 || shape.primaries !== 1) this.endGroup(groupId);
  }

  private endGroup(groupId: number): void {
    this.stmts.deleteMembersOf.run(groupId);
    this.stmts.deleteGroup.run(groupId);
  }

  get(id: number): GroupRecord | undefined {
    const row = this.stmts.group.get(id);
    if (!row) return undefined;
    return { id: row.id, members: this.stmts.members.all(id), declaredAt: row.declared_at };
  }

  /** The group of one content and its role there; undefined when it stands alone. */
  ofContent(sha256: string): { id: number; role: GroupRole } | undefined {
    const row = this.stmts.membership.get(sha256);
    return row ? { id: row.group_id, role: row.role } : undefined;
  }
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
