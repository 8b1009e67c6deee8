// `--enroll CODE --to URL` (backup, daemon): exchanges a one-time enrolment code the vault's
// administrator printed (`keepsake vault enroll`) for this computer's own device token, then
// remembers the vault and keeps the token in the engine's secret store, so later starts need
// neither flag. A code that was used, has expired or is unknown is one clear line (exit 2).
import type { Policy } from '../../common/policy.js';
import type { KeepsakeEngine } from '../engine/api.js';
import { createSecretStore } from '../engine/secret-store.js';
import { KeepsakeError } from '../engine/errors.js';
import {
  exchangeEnrolmentCode,
  policyEnrolment,
  rememberEnrolment as rememberInEngine,
} from '../host/enrolment.js';
import { UsageError, type ParsedEngineCliOptions } from './engine-setup.js';

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
  const outcome = await exchangeEnrolmentCode(url, code, signal);
  if (!outcome.ok) {
    if (outcome.refused) throw new UsageError(`--enroll: ${outcome.message}`);
    throw new KeepsakeError(
      'vault_unreachable',
      outcome.message,
      outcome.cause !== undefined,
      outcome.cause !== undefined ? { cause: outcome.cause } : undefined,
    );
  }
  parsed.vault = { url, token: outcome.token };
  return { url, token: outcome.token };
}

/** Keeps the vault URL in Settings (unless the policy locks it) and the device token. */
export async function rememberEnrolment(
  engine: KeepsakeEngine,
  enrolled: { url: string; token: string },
  policy: Policy,
): Promise<void> {
  await rememberInEngine(engine, enrolled, policy);
}

/**
 * The organisation's enrolment code (policy `enrollmentCode` with `vaultUrl`), used like
 * `--enroll CODE --to URL` when nothing on the command line names a vault and this data
 * directory has none yet (no vault address remembered, or no token kept). Sets parsed.enrol.
 */
async function enrolFromPolicy(parsed: ParsedEngineCliOptions, policy: Policy): Promise<boolean> {
  if (parsed.enrol !== null || parsed.vault !== null) return false;
  const wanted = await policyEnrolment(parsed.dataDir, policy, createSecretStore(parsed.dataDir));
  if (wanted === null) return false;
  parsed.enrol = wanted;
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
