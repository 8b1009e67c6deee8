// /api/v1/groups (issue 11 section 1): the engine declares which contents are one asset (a
// Live Photo, a RAW+JPEG pair, an edit, sidecars) and anyone reads a group back by id.
// Invariant: a request is validated whole (its envelope) before anything is stored; each
// declaration is then checked on its own, and one that names content the vault does not hold
// is refused whole, never stored in part. See [Note: A declaration replaces] in
// common/vault-protocol.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  declareGroupsEnvelopeSchema,
  type DeclareGroupsResponse,
  firstIssue,
  groupDeclarationSchema,
  type GroupJson,
  type GroupResult,
  MAX_GROUPS_PER_REQUEST,
  MAX_GROUPS_REQUEST_BYTES,
} from '../common/vault-protocol.js';
import { parseJson, readBody, sendJson } from './api.js';
import { VaultHttpError } from './http-error.js';
import type { Principal } from './devices.js';
import { ADMIN_DECLARER, type GroupMemberRecord } from './index/group-store.js';
import type { VaultIndex } from './index/vault-index.js';

export function createGroupsApi(deps: { index: VaultIndex; now: () => number }) {
  const { index } = deps;

  async function declare(req: IncomingMessage, res: ServerResponse, principal: Principal) {
    const envelope = declareGroupsEnvelopeSchema.safeParse(
      parseJson(await readBody(req, MAX_GROUPS_REQUEST_BYTES)),
    );
    if (!envelope.success) {
      throw new VaultHttpError(
        400,
        'bad_request',
        `expected {"groups": [{"members": [{"sha256", "role"}]}]} with 1 to ${MAX_GROUPS_PER_REQUEST} groups: ${firstIssue(envelope.error).message}`,
      );
    }
    const results: GroupResult[] = [];
    const valid: { at: number; members: GroupMemberRecord[] }[] = [];
    const parsed = envelope.data.groups.map((g) => groupDeclarationSchema.safeParse(g));
    for (const p of parsed) {
      if (!p.success) {
        results.push({ status: 'refused', ...firstIssue(p.error) });
        continue;
      }
      valid.push({ at: results.length, members: p.data.members });
      results.push({ status: 'dissolved' }); // replaced below by what the store did
    }
    // Which members the vault holds is asked in the declarations' transaction (See
    // group-store.ts): a content the trash empties meanwhile is never grouped.
    const outcomes = await index.groups.declareMany(
      valid.map((v) => v.members),
      deps.now(),
      principal.kind === 'device' ? principal.id : ADMIN_DECLARER,
    );
    valid.forEach((v, i) => {
      const outcome = outcomes[i];
      if (outcome === undefined) return;
      switch (outcome.status) {
        case 'stored':
          results[v.at] = { status: 'stored', id: String(outcome.id), change: outcome.change };
          break;
        case 'dissolved':
        case 'not_held':
          results[v.at] = outcome;
          break;
        case 'conflict':
          results[v.at] = {
            ...outcome,
            message: `${outcome.members.length} of these contents are in a group ${outcome.heldBy} declared; only it changes that group (nothing was moved)`,
          };
          break;
        default: {
          const unknown: never = outcome;
          throw new Error(`unknown group outcome ${JSON.stringify(unknown)}`);
        }
      }
    });
    const reply: DeclareGroupsResponse = { results };
    sendJson(res, 200, reply);
  }

  async function groupJson(id: string): Promise<GroupJson> {
    const group = /^\d{1,15}$/.test(id) ? await index.groups.get(Number(id)) : undefined;
    if (!group) throw new VaultHttpError(404, 'not_found', 'the vault holds no group with this id');
    return { id: String(group.id), members: group.members, declaredAt: group.declaredAt };
  }

  /** Routes /api/v1/groups[/:id]; `rest` is the path after "groups". */
  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    rest: readonly string[],
    principal: Principal,
  ): Promise<void> {
    const method = req.method ?? 'GET';
    const methodNotAllowed = (allowed: string): never => {
      throw new VaultHttpError(405, 'method_not_allowed', `this resource answers ${allowed} only`);
    };
    if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) {
      if (method !== 'POST') methodNotAllowed('POST');
      return declare(req, res, principal);
    }
    const [id] = rest;
    if (rest.length === 1 && id !== undefined) {
      if (method !== 'GET') methodNotAllowed('GET');
      return sendJson(res, 200, await groupJson(id));
    }
    throw new VaultHttpError(404, 'not_found', `no such API endpoint: ${url.pathname}`);
  }

  return { handle };
}
