// `--enroll CODE --to URL` (backup, daemon): exchanges a one-time enrolment code the vault's
// administrator printed (`keepsake vault enroll`) for this computer's own device token, then
// remembers the vault and keeps the token in the engine's secret store, so later starts need
// neither flag. A code that was used, has expired or is unknown is one clear line (exit 2).
import { hostname } from 'node:os';
import {
  deviceCreatedSchema,
  ENROLL_PATH,
  ENROLMENT_EXPIRED_CODE,
  ENROLMENT_UNKNOWN_CODE,
  ENROLMENT_USED_CODE,
  hasControlCharacter,
} from '../../common/vault-protocol.js';
import { existsSync } from 'node:fs';
import type { Policy } from '../../common/policy.js';
import type { KeepsakeEngine } from '../engine/api.js';
import { storedVaultUrl } from '../engine/runtime/snapshot.js';
import { createSecretStore } from '../engine/secret-store.js';
import { KeepsakeError } from '../engine/errors.js';
import { UsageError, type ParsedEngineCliOptions } from './engine-setup.js';

const REFUSED = new Set([ENROLMENT_USED_CODE, ENROLMENT_EXPIRED_CODE, ENROLMENT_UNKNOWN_CODE]);

/** The name the vault's administrator sees: this computer's host name, made acceptable. */
function deviceName(): string {
  const name = [...hostname()]
    .filter((c) => !hasControlCharacter(c) && c !== '/')
    .join('')
    .trim()
    .slice(0, 100);
  return name === '' ? 'computer' : name;
}

/**
 * When --enroll was given: asks the vault for this device's token and sets parsed.vault to
 * it. Returns what to remember once the engine is open (rememberEnrolment), else null.
 */
export async function enrolIfAsked(
  parsed: ParsedEngineCliOptions,
  signal?: AbortSignal,
): Promise<{ url: string; token: string } | null> {
  if (parsed.enrol === null) return null;
  const { url, code } = parsed.enrol;
  let res: Response;
  try {
    res = await fetch(new URL(ENROLL_PATH, `${url}/`), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ code, name: deviceName() }),
      signal: signal ?? AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new KeepsakeError(
      'vault_unreachable',
      `cannot reach the vault at ${url} to enrol`,
      true,
      {
        cause: err,
      },
    );
  }
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: said below
  }
  if (!res.ok) {
    const o = (body ?? {}) as { error?: unknown; message?: unknown };
    const message = typeof o.message === 'string' ? o.message : `HTTP ${res.status}`;
    if (typeof o.error === 'string' && REFUSED.has(o.error)) {
      throw new UsageError(`--enroll: ${message}`);
    }
    throw new KeepsakeError(
      'vault_unreachable',
      `the vault at ${url} did not enrol this computer: ${message}`,
    );
  }
  const created = deviceCreatedSchema.safeParse(body);
  if (!created.success) {
    throw new KeepsakeError(
      'vault_unreachable',
      `the vault at ${url} answered the enrolment with something else than a device token`,
    );
  }
  parsed.vault = { url, token: created.data.token };
  return { url, token: created.data.token };
}

/** Keeps the vault URL in Settings and the device token in the secret store. */
export async function rememberEnrolment(
  engine: KeepsakeEngine,
  enrolled: { url: string; token: string },
): Promise<void> {
  await engine.api['settings.set']({ key: 'vaultUrl', value: enrolled.url });
  await engine.api['settings.set']({ key: 'vaultToken', value: enrolled.token });
}

/**
 * The organisation's enrolment code (policy `enrollmentCode` with `vaultUrl`), used like
 * `--enroll CODE --to URL` when nothing on the command line names a vault and this data
 * directory has none yet (no vault address remembered, or no token kept). Sets parsed.enrol.
 */
async function enrolFromPolicy(parsed: ParsedEngineCliOptions, policy: Policy): Promise<boolean> {
  const { vaultUrl, enrollmentCode } = policy.values;
  if (parsed.enrol !== null || parsed.vault !== null) return false;
  if (vaultUrl === undefined || enrollmentCode === undefined) return false;
  if (
    existsSync(parsed.dataDir) &&
    storedVaultUrl(parsed.dataDir) !== null &&
    (await createSecretStore(parsed.dataDir).read()) !== null
  ) {
    return false;
  }
  parsed.enrol = { url: vaultUrl.replace(/\/+$/, ''), code: enrollmentCode };
  return true;
}

/**
 * `--enroll` when given; else the policy's enrolment code when this computer has no vault yet.
 * A policy code the vault refuses (used, expired) is said on stderr and the run goes on as if
 * there were none; a refused `--enroll` stops it (exit 2).
 */
export async function enrolAsToldOrByPolicy(
  command: string,
  parsed: ParsedEngineCliOptions,
  policy: Policy,
  signal?: AbortSignal,
): Promise<{ url: string; token: string } | null> {
  const byPolicy = await enrolFromPolicy(parsed, policy);
  try {
    return await enrolIfAsked(parsed, signal);
  } catch (err) {
    if (!byPolicy || !(err instanceof UsageError)) throw err;
    process.stderr.write(
      `keepsake ${command}: the enrolment code in the policy was refused (${err.message.replace(/^--enroll: /, '')}); going on without it\n`,
    );
    parsed.enrol = null;
    return null;
  }
}
