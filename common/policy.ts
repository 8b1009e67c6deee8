// The one definition of an administrator's policy (issue 13 §3). Every place that knows about
// policy keys takes them from here: the readers of each OS's format (main/engine/policy/), the
// engine that applies and locks them, and the generated administrator templates (ADMX/ADML,
// the sample .mobileconfig, the JSON schema: scripts/policy-templates.ts).
//
// Invariant: a policy key is either a Settings key of the UI contract (contract.ts `Settings`),
// `folders`/`include`/`exclude` (the watched folders and their rules), `enrollmentCode`, or
// `locked`; tests/unit/common/policy.test.ts checks every Settings key is here or named in
// `notPolicyKeys` with the reason.
//
// Pure module: imports zod only.
//
// [Note: What a policy means]
// A policy sets values; `locked` lists the keys a person may not change. A value that is not
// locked is the organisation's default: it applies until the person sets their own. A locked
// value always applies, and every way of changing it (the UI, a command-line flag, the API)
// is refused with the code `setting_locked` and the words "set by your organisation".
// `folders` are required folders: each is watched, and none of them can be removed; locking
// `folders` also stops a person adding others. `include` and `exclude` are the rules of those
// required folders; locked, the rules of those folders cannot be changed. `enrollmentCode` is
// read and handed to enrolment (issue 13 §1) when the client has no token yet; it is never
// shown in Settings.
import { z } from 'zod';

export type PolicyKind = 'string' | 'boolean' | 'integer' | 'list' | 'enum';

interface PolicyKeyBase {
  /** The key in policy.json, the plist and the registry value name. */
  key: string;
  kind: PolicyKind;
  /** A short name (the ADMX policy's display name). */
  title: string;
  /** What it does, for an administrator (the ADMX explain text, the schema's description). */
  description: string;
}

export interface PolicyKeyDefinition extends PolicyKeyBase {
  /** Integers: the allowed range. */
  min?: number;
  max?: number;
  /** Enums: the allowed values. */
  values?: readonly string[];
  /** A value for the sample .mobileconfig and README. */
  example: string | boolean | number | readonly string[];
}

const updateChannels = ['latest', 'beta', 'alpha'] as const;

/** Every key a policy may hold, in the order the templates list them. */
export const policyDefinitions = [
  {
    key: 'vaultUrl',
    kind: 'string',
    title: 'Vault address',
    description:
      'The Keepsake Vault this computer backs up to, e.g. https://vault.example.com:7418 (http or https).',
    example: 'https://vault.example.com:7418',
  },
  {
    key: 'enrollmentCode',
    kind: 'string',
    title: 'Enrolment code',
    description:
      'A one-time enrolment code from `keepsake vault enroll`: a computer with no vault token exchanges it for its own device token.',
    example: 'ENROL-CODE',
  },
  {
    key: 'deviceName',
    kind: 'string',
    title: 'Device name',
    description: "This computer's name on the vault (default: its host name).",
    example: 'Reception PC',
  },
  {
    key: 'folders',
    kind: 'list',
    title: 'Required folders',
    description:
      'Folders that are always backed up and cannot be removed. "~" is the home folder; %VARIABLES% are expanded. Locked, a person cannot add other folders either.',
    example: ['~/Pictures'],
  },
  {
    key: 'include',
    kind: 'list',
    title: 'Include rules of the required folders',
    description:
      'Glob patterns (e.g. **/*.jpg): only matching files in the required folders are backed up. Empty: every photo and video.',
    example: [],
  },
  {
    key: 'exclude',
    kind: 'list',
    title: 'Exclude rules of the required folders',
    description: 'Glob patterns (e.g. **/Thumbs/**) never backed up from the required folders.',
    example: ['**/Thumbs/**'],
  },
  {
    key: 'bandwidthLimit',
    kind: 'string',
    title: 'Upload bandwidth limit',
    description:
      'A rate in binary units ("4M" = 4 MiB/s), "off", or a timetable "Mon-08:00,1M Mon-18:00,off".',
    example: '1M',
  },
  {
    key: 'concurrency',
    kind: 'integer',
    title: 'Files uploaded at once',
    description: 'How many files are uploaded at the same time (1-16).',
    min: 1,
    max: 16,
    example: 3,
  },
  {
    key: 'chunkSizeBytes',
    kind: 'integer',
    title: 'Upload chunk size (bytes)',
    description: 'Bytes sent per upload request (65536 to 1073741824).',
    min: 65536,
    max: 1 << 30,
    example: 8388608,
  },
  {
    key: 'pauseOnBattery',
    kind: 'boolean',
    title: 'Pause on battery',
    description: 'Pause uploads while the computer runs on battery.',
    example: true,
  },
  {
    key: 'pauseOnMetered',
    kind: 'boolean',
    title: 'Pause on a metered network',
    description: 'Pause uploads while the network connection is metered.',
    example: true,
  },
  {
    key: 'startAtLogin',
    kind: 'boolean',
    title: 'Start at login',
    description: 'Start Keepsake when the person logs in.',
    example: true,
  },
  {
    key: 'updatesAllowed',
    kind: 'boolean',
    title: 'Allow updates',
    description: 'Whether Keepsake updates itself from its update feed.',
    example: true,
  },
  {
    key: 'updateChannel',
    kind: 'enum',
    title: 'Update channel',
    description: 'The update channel followed: latest (stable), beta or alpha.',
    values: updateChannels,
    example: 'latest',
  },
  {
    key: 'freeUpAllowed',
    kind: 'boolean',
    title: 'Allow freeing up space',
    description:
      "Whether a person may free up space on this computer: move backed-up photos and videos that the vault has just re-verified to the system's trash (each folder must allow it too). Set false and lock it to forbid it.",
    example: true,
  },
  {
    key: 'locked',
    kind: 'list',
    title: 'Locked settings',
    description:
      'The keys above a person may not change (e.g. bandwidthLimit, folders). A locked value shows as "set by your organisation".',
    example: ['bandwidthLimit', 'folders'],
  },
] as const satisfies readonly PolicyKeyDefinition[];

export type PolicyKey = (typeof policyDefinitions)[number]['key'];
/** Keys that `locked` may name (every key but `locked` itself). */
export type LockableKey = Exclude<PolicyKey, 'locked'>;

export const policyKeys: readonly PolicyKey[] = policyDefinitions.map((d) => d.key);
export const lockableKeys = policyKeys.filter((k): k is LockableKey => k !== 'locked');

/**
 * Settings keys of the UI contract a policy does not set, and why (checked by a test so a new
 * Settings key is a decision, not an omission).
 */
export const notPolicyKeys = {
  vaultTokenSet: 'a fact (whether a token is stored), not a value: policy gives enrollmentCode',
  tokenStorage: "a fact about this computer's secret store",
} as const;

/** The schema of one key's value (the readers check each key on its own). */
export function policyValueSchema(def: PolicyKeyDefinition): z.ZodType {
  switch (def.kind) {
    case 'string':
      if (def.key === 'vaultUrl') {
        return z
          .string()
          .url()
          .refine((s) => /^https?:\/\//i.test(s), 'must be an http:// or https:// URL');
      }
      return z.string().min(1).max(4096);
    case 'boolean':
      return z.boolean();
    case 'integer':
      return z
        .number()
        .int()
        .min(def.min ?? Number.MIN_SAFE_INTEGER)
        .max(def.max ?? Number.MAX_SAFE_INTEGER);
    case 'enum':
      return z.enum((def.values ?? []) as [string, ...string[]]);
    case 'list':
      if (def.key === 'locked') return z.array(z.enum(lockableKeys as [string, ...string[]]));
      return z.array(z.string().min(1).max(4096)).max(1000);
    default: {
      const never: never = def.kind;
      throw new Error(`unknown policy kind ${String(never)}`);
    }
  }
}

/** The values a policy sets (every key optional; `locked` kept apart). */
export interface PolicyValues {
  vaultUrl?: string;
  enrollmentCode?: string;
  deviceName?: string;
  folders?: string[];
  include?: string[];
  exclude?: string[];
  bandwidthLimit?: string;
  concurrency?: number;
  chunkSizeBytes?: number;
  pauseOnBattery?: boolean;
  pauseOnMetered?: boolean;
  startAtLogin?: boolean;
  updatesAllowed?: boolean;
  updateChannel?: (typeof updateChannels)[number];
  freeUpAllowed?: boolean;
}

/** One key a policy source got wrong: named with its source so IT can find it. */
export interface PolicyProblem {
  /** The file or registry key it came from. */
  source: string;
  /** The policy key (or null when the whole source could not be read). */
  key: string | null;
  message: string;
}

/** An administrator's policy as read: what it sets, what it locks, what was wrong. */
export interface Policy {
  values: PolicyValues;
  locked: readonly LockableKey[];
  /** Where it was read from (files, registry keys), for messages. */
  sources: readonly string[];
  problems: readonly PolicyProblem[];
}

export const emptyPolicy: Policy = { values: {}, locked: [], sources: [], problems: [] };

/** What a refused change says (UI, CLI and API alike). */
export function lockedMessage(key: string): string {
  return `"${key}" is set by your organisation and cannot be changed here.`;
}

/**
 * Checks raw key/value pairs (already decoded from JSON, a plist or the registry) against the
 * definition, key by key: a bad key is a problem naming `source` and the key, and the rest
 * still applies. Unknown keys are problems too (a typo must not pass silently).
 */
export function validatePolicy(
  raw: Readonly<Record<string, unknown>>,
  source: string,
): { values: PolicyValues; locked: LockableKey[]; problems: PolicyProblem[] } {
  const values: Record<string, unknown> = {};
  let locked: LockableKey[] = [];
  const problems: PolicyProblem[] = [];
  const byKey = new Map<string, PolicyKeyDefinition>(policyDefinitions.map((d) => [d.key, d]));
  for (const [key, value] of Object.entries(raw)) {
    const def = byKey.get(key);
    if (def === undefined) {
      problems.push({
        source,
        key,
        message: `unknown key "${key}" (known: ${policyKeys.join(', ')}); ignored`,
      });
      continue;
    }
    const parsed = policyValueSchema(def).safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? ` (item ${issue.path.join('.')})` : '';
      problems.push({
        source,
        key,
        message: `"${key}"${where}: ${issue?.message ?? 'invalid'} (${describeExpected(def)}); ignored, the rest of the policy applies`,
      });
      continue;
    }
    if (key === 'locked') locked = parsed.data as LockableKey[];
    else values[key] = parsed.data;
  }
  return { values: values, locked, problems };
}

function describeExpected(def: PolicyKeyDefinition): string {
  switch (def.kind) {
    case 'string':
      return 'expected text';
    case 'boolean':
      return 'expected true or false';
    case 'integer':
      return `expected a whole number from ${def.min ?? '-'} to ${def.max ?? '-'}`;
    case 'enum':
      return `expected one of ${(def.values ?? []).join(', ')}`;
    case 'list':
      return def.key === 'locked'
        ? `expected a list of ${lockableKeys.join(', ')}`
        : 'expected a list of text';
    default: {
      const never: never = def.kind;
      return String(never);
    }
  }
}

/**
 * Merges sources, later ones winning key by key (Windows: HKCU then HKLM, the machine's policy
 * beating the user's; macOS: the user's managed preferences then the computer's); `locked` is
 * the union.
 */
export function mergePolicies(parts: readonly Policy[]): Policy {
  const values: PolicyValues = {};
  const locked = new Set<LockableKey>();
  const sources: string[] = [];
  const problems: PolicyProblem[] = [];
  for (const part of parts) {
    Object.assign(values, part.values);
    for (const k of part.locked) locked.add(k);
    sources.push(...part.sources);
    problems.push(...part.problems);
  }
  return { values, locked: [...locked], sources, problems };
}
