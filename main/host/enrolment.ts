// Enrolment (issue 13 section 1): a one-time code the vault's administrator printed (`keepsake
// vault enroll`) exchanged for this computer's own device token, and whether the
// organisation's policy (`enrollmentCode` with `vaultUrl`) asks for it. One code path for
// every host: the CLI's `--enroll` and policy enrolment (main/cli/enrol.ts) and the desktop
// app's first start (startHost's enrolByPolicy) all call these.
// Invariants: the code is offered only while this computer keeps no token for the vault it
// would use; an exchange never throws: a refusal (used, expired, unknown) or an unreachable
// vault comes back as data for the caller to say in its own words.
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Policy } from '../../common/policy.js';
import {
  deviceCreatedSchema,
  ENROLL_PATH,
  ENROLMENT_EXPIRED_CODE,
  ENROLMENT_UNKNOWN_CODE,
  ENROLMENT_USED_CODE,
  hasControlCharacter,
} from '../../common/vault-protocol.js';
import type { KeepsakeEngine } from '../engine/api.js';
import type { SecretStore } from '../engine/ports.js';
import { storedVaultUrl } from '../engine/runtime/snapshot.js';

const REFUSED = new Set<string>([
  ENROLMENT_USED_CODE,
  ENROLMENT_EXPIRED_CODE,
  ENROLMENT_UNKNOWN_CODE,
]);

export interface Enrolled {
  url: string;
  token: string;
}

export type EnrolOutcome =
  | ({ ok: true } & Enrolled)
  | {
      ok: false;
      /** the vault refused the code (used, expired, unknown); else it could not be asked */
      refused: boolean;
      message: string;
      cause?: unknown;
    };

/** The name the vault's administrator sees: this computer's host name, made acceptable. */
export function enrolmentDeviceName(host: string = hostname()): string {
  const name = [...host]
    .filter((c) => !hasControlCharacter(c) && c !== '/')
    .join('')
    .trim()
    .slice(0, 100);
  return name === '' ? 'computer' : name;
}

/** Asks the vault at `url` for this computer's device token in exchange for `code`. */
export async function exchangeEnrolmentCode(
  url: string,
  code: string,
  signal?: AbortSignal,
): Promise<EnrolOutcome> {
  let res: Response;
  try {
    res = await fetch(new URL(ENROLL_PATH, `${url}/`), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ code, name: enrolmentDeviceName() }),
      signal: signal ?? AbortSignal.timeout(30_000),
    });
  } catch (err) {
    return {
      ok: false,
      refused: false,
      message: `cannot reach the vault at ${url} to enrol`,
      cause: err,
    };
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
      return { ok: false, refused: true, message };
    }
    return {
      ok: false,
      refused: false,
      message: `the vault at ${url} did not enrol this computer: ${message}`,
    };
  }
  const created = deviceCreatedSchema.safeParse(body);
  if (!created.success) {
    return {
      ok: false,
      refused: false,
      message: `the vault at ${url} answered the enrolment with something else than a device token`,
    };
  }
  return { ok: true, url, token: created.data.token };
}

/**
 * The policy's enrolment (`vaultUrl` + `enrollmentCode`) when this data directory keeps no
 * token for the vault it would use: none kept at all, or one kept without a remembered vault
 * address while the policy's address is only a default. Null: nothing to do.
 */
export async function policyEnrolment(
  dataDir: string,
  policy: Policy,
  secrets: SecretStore,
): Promise<{ url: string; code: string } | null> {
  const { vaultUrl, enrollmentCode } = policy.values;
  if (vaultUrl === undefined || enrollmentCode === undefined) return null;
  const token = existsSync(dataDir) ? await secrets.read() : null;
  if (token !== null) {
    const addressKnown = policy.locked.includes('vaultUrl') || storedVaultUrl(dataDir) !== null;
    if (addressKnown) return null;
  }
  return { url: vaultUrl.replace(/\/+$/, ''), code: enrollmentCode };
}

/**
 * Keeps the device token in the secret store and the vault address in Settings, so later
 * starts need neither. A locked address is the organisation's already: not stored again
 * (Settings would refuse it).
 */
export async function rememberEnrolment(
  engine: Pick<KeepsakeEngine, 'api'>,
  enrolled: Enrolled,
  policy: Policy,
): Promise<void> {
  if (!policy.locked.includes('vaultUrl')) {
    await engine.api['settings.set']({ key: 'vaultUrl', value: enrolled.url });
  }
  await engine.api['settings.set']({ key: 'vaultToken', value: enrolled.token });
}
