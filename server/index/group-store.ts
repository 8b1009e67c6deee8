// The groups tables (migration 0008): which contents are one asset to a person, and each
// one's role. SQL for them lives here and nowhere else; VaultIndex owns the connection.
// Invariant: a content is in at most one group, and every group has exactly one primary and
// at least two members, after every commit (See [Note: A declaration replaces] in
// common/vault-protocol.ts): a declaration that takes a group's primary or leaves it with one
// member ends that group in the same transaction.
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

export type DeclareOutcome =
  | { status: 'stored'; id: number; change: 'created' | 'replaced' | 'unchanged' }
  | { status: 'dissolved' };

interface MembershipRow {
  group_id: number;
  role: GroupRole;
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
      insertGroup: db.prepare<[number]>('INSERT INTO groups (declared_at) VALUES (?)'),
      touchGroup: db.prepare<[number, number]>('UPDATE groups SET declared_at = ? WHERE id = ?'),
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
  ): DeclareOutcome[] {
    this.db.pragma('synchronous = FULL');
    try {
      return this.db.transaction(() => declarations.map((d) => this.declareOne(d, at)))();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  private declareOne(members: readonly GroupMemberRecord[], at: number): DeclareOutcome {
    const primary = members.find((m) => m.role === 'primary');
    if (!primary) throw new Error('a group declaration without a primary reached the store');
    const current = this.stmts.membership.get(primary.sha256);
    const leads = current?.role === 'primary' ? current.group_id : undefined;

    if (members.length === 1) {
      if (leads !== undefined) this.endGroup(leads);
      else if (current) this.leave(primary.sha256, current.group_id);
      return { status: 'dissolved' };
    }

    let id: number;
    let change: 'created' | 'replaced';
    if (leads !== undefined) {
      if (sameMembers(this.stmts.members.all(leads), members)) {
        return { status: 'stored', id: leads, change: 'unchanged' };
      }
      id = leads;
      change = 'replaced';
      this.stmts.deleteMembersOf.run(id);
      this.stmts.touchGroup.run(at, id);
    } else {
      id = Number(this.stmts.insertGroup.run(at).lastInsertRowid);
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
