// `keepsake vault devices add|list|revoke|rename` and `keepsake vault enroll --ttl 7d`: device
// administration on the vault's data directory (the machine the vault runs on), or on the
// index several vault nodes share (--index postgres://…), beside a running vault or a
// stopped one. The vault reads its index on every request, so a revoke
// here refuses the device's very next request. Tokens and codes are printed once: the vault
// keeps only their SHA-256. See [Note: Device tokens] in server/devices.ts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { formatSize } from '../../../common/size-units.js';
import type { DeviceJson } from '../../../common/vault-protocol.js';
import { deviceNameSchema } from '../../../common/vault-protocol.js';
import { DeviceRegistry, type FleetThresholds } from '../../../server/devices.js';
import { VaultHttpError } from '../../../server/http-error.js';
import { VaultStartError } from '../../../server/start-error.js';
import { openIndexToStart } from '../../../server/stopped-vault.js';

const USAGE =
  'usage: keepsake vault devices add NAME | list [--json] | revoke NAME | rename OLD NEW (--data-dir DIR [--index URL])';

function when(ms: number | null): string {
  return ms === null ? 'never' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function printTable(devices: DeviceJson[]): void {
  if (devices.length === 0) {
    console.log('no devices yet: add one with `keepsake vault devices add NAME`');
    return;
  }
  for (const d of devices) {
    const state = d.revokedAt !== null ? `revoked ${when(d.revokedAt)}` : d.verdict;
    console.log(
      `${d.name}  [${state}]  created ${when(d.createdAt)}  last seen ${when(d.lastSeenAt)}  ` +
        `last backup ${when(d.lastBackupAt)}  version ${d.version ?? '?'}  ` +
        `${d.filesSafe} files (${formatSize(d.bytesSafe)}) safe` +
        (d.revokedAt === null && d.verdict !== 'healthy' ? `  (${d.verdictReason})` : ''),
    );
  }
}

/** `index`: the vault's --index (a postgres URL several nodes share); default DIR/vault.db. */
async function openRegistry(
  where: { dataDir: string; index?: string },
  fleet: FleetThresholds = {},
): Promise<{ registry: DeviceRegistry; close: () => Promise<void> }> {
  const path = where.index ?? join(where.dataDir, 'vault.db');
  if (where.index === undefined && !existsSync(path)) {
    throw new UsageFault(`no vault in ${where.dataDir} (no vault.db there)`);
  }
  const index = await openIndexToStart(path);
  return {
    registry: new DeviceRegistry(index.devices, () => Date.now(), fleet),
    close: () => index.close(),
  };
}

class UsageFault extends Error {}

function checkedName(value: string | undefined): string {
  const parsed = deviceNameSchema.safeParse(value ?? '');
  if (!parsed.success) throw new UsageFault(parsed.error.issues[0]?.message ?? 'invalid name');
  return parsed.data;
}

async function run(what: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (err instanceof UsageFault) {
      console.error(`keepsake vault ${what}: ${err.message}`);
      process.exitCode = 2;
      return;
    }
    if (err instanceof VaultHttpError || err instanceof VaultStartError) {
      console.error(`keepsake vault ${what}: ${err.message}`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}

export function runVaultDevices(opts: {
  dataDir: string;
  index?: string;
  args: string[];
  json: boolean;
  fleet?: FleetThresholds;
}): Promise<void> {
  return run('devices', async () => {
    const [verb, a, b, ...extra] = opts.args;
    const arity: Record<string, number> = { add: 1, list: 0, revoke: 1, rename: 2 };
    const n = verb === undefined ? undefined : arity[verb];
    if (n === undefined || [a, b].filter((x) => x !== undefined).length !== n || extra.length) {
      throw new UsageFault(USAGE);
    }
    const { registry, close } = await openRegistry(opts, opts.fleet);
    try {
      switch (verb ?? '') {
        case 'add': {
          const d = await registry.add(checkedName(a));
          if (opts.json) {
            console.log(JSON.stringify(d));
            return;
          }
          console.log(`added device "${d.name}" (${d.id}); its token, shown only this once:`);
          console.log(d.token);
          return;
        }
        case 'list': {
          const devices = await registry.list();
          if (opts.json) console.log(JSON.stringify({ devices }, null, 2));
          else printTable(devices);
          return;
        }
        case 'revoke': {
          const d = await registry.revoke(checkedName(a));
          console.log(`revoked device "${d.name}": its token is refused from its next request`);
          return;
        }
        case 'rename': {
          const d = await registry.rename(checkedName(a), checkedName(b));
          console.log(`renamed device "${a}" to "${d.name}"`);
          return;
        }
        default:
          throw new UsageFault(USAGE);
      }
    } finally {
      await close();
    }
  });
}

export function runVaultEnroll(opts: {
  dataDir: string;
  index?: string;
  ttlMs: number;
  json: boolean;
}): Promise<void> {
  return run('enroll', async () => {
    const { registry, close } = await openRegistry(opts);
    try {
      const e = await registry.createEnrolment(opts.ttlMs);
      if (opts.json) {
        console.log(JSON.stringify(e));
        return;
      }
      console.log(`enrolment code (one device, once, until ${when(e.expiresAt)}):`);
      console.log(e.code);
      console.log(
        'on the new computer: keepsake daemon --enroll CODE --to URL (or backup --enroll CODE --to URL)',
      );
    } finally {
      await close();
    }
  });
}
