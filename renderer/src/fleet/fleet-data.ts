// The fleet page's data: one GET of /fleet/api/devices with the session cookie, parsed with the
// vault protocol's own schema, and the words a person reads for each device. Invariant:
// loadFleet never rejects: a refusal, a network failure or a malformed answer becomes a
// FleetProblem as data, with a message that says what to do.
import {
  type DeviceJson,
  type FleetSnapshot,
  fleetSnapshotSchema,
} from '../../../common/vault-protocol';

export type FleetProblem = { kind: 'signed_out' | 'unreachable' | 'bad_answer'; message: string };
export type FleetLoad = { ok: true; value: FleetSnapshot } | { ok: false; problem: FleetProblem };

export async function loadFleet(signal?: AbortSignal): Promise<FleetLoad> {
  let res: Response;
  try {
    res = await fetch('./api/devices', {
      credentials: 'same-origin',
      cache: 'no-store',
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    return {
      ok: false,
      problem: {
        kind: 'unreachable',
        message: `Cannot reach the vault (${err instanceof Error ? err.message : String(err)}). Is it running?`,
      },
    };
  }
  if (res.status === 401) {
    return {
      ok: false,
      problem: {
        kind: 'signed_out',
        message:
          'This page is signed out (the vault restarted, or the session ended). Open /fleet/?token=… again with the vault administrator token.',
      },
    };
  }
  if (!res.ok) {
    const text = await res.text().catch(() => '');
    return {
      ok: false,
      problem: {
        kind: 'unreachable',
        message: `The vault answered HTTP ${res.status}${text ? `: ${text}` : ''}`,
      },
    };
  }
  try {
    const parsed = fleetSnapshotSchema.safeParse(await res.json());
    if (parsed.success) return { ok: true, value: parsed.data };
  } catch {
    // not JSON: reported below
  }
  return {
    ok: false,
    problem: {
      kind: 'bad_answer',
      message:
        'The vault sent a device list this page cannot read (is the vault a newer version?).',
    },
  };
}

/** States of files a device still has to back up. */
const pendingStates = ['discovered', 'hashing', 'queued', 'uploading'] as const;

export function pendingFiles(d: DeviceJson): number | null {
  const counts = d.heartbeat?.counts;
  if (!counts) return null;
  return pendingStates.reduce((n, s) => n + (counts[s] ?? 0), 0);
}

export function failedFiles(d: DeviceJson): number {
  return d.heartbeat?.counts.failed ?? 0;
}

const pauseWords: Record<string, string> = {
  user: 'paused by its user',
  schedule: 'paused by its timetable',
  battery: 'paused: on battery',
  metered: 'paused: on a metered network',
  sign_in_needed: 'paused: the vault refused its token',
  vault_full: 'paused: the vault is full',
  disk_full: 'paused: its own disk is full',
  database_corrupt: 'paused: its database is damaged',
};

/** "paused by its user", or null when it is running (or never reported). */
export function pausedWords(d: DeviceJson): string | null {
  const beat = d.heartbeat;
  if (!beat?.paused) return null;
  if (beat.pausedReason === null) return 'paused';
  return pauseWords[beat.pausedReason] ?? `paused (${beat.pausedReason})`;
}

export const verdictWords: Record<DeviceJson['verdict'], string> = {
  healthy: 'Healthy',
  behind: 'Behind',
  silent: 'Silent',
  failing: 'Failing',
};

/** Worst first, so the devices that need IT come to the top. */
const verdictRank: Record<DeviceJson['verdict'], number> = {
  failing: 0,
  silent: 1,
  behind: 2,
  healthy: 3,
};

export function sortForAttention(devices: readonly DeviceJson[]): DeviceJson[] {
  return [...devices].sort(
    (a, b) =>
      Number(a.revokedAt !== null) - Number(b.revokedAt !== null) ||
      verdictRank[a.verdict] - verdictRank[b.verdict] ||
      a.name.localeCompare(b.name),
  );
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const units: [Intl.RelativeTimeFormatUnit, number][] = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
];

/** "3 hours ago" on the vault's clock; "just now" under a minute. */
export function ago(at: number, now: number): string {
  const ms = Math.max(0, now - at);
  for (const [unit, size] of units) {
    if (ms >= size) return relative.format(-Math.floor(ms / size), unit);
  }
  return 'just now';
}

/** "waits 4 days" for an age in ms. */
export function waitWords(ms: number): string {
  for (const [unit, size] of units) {
    if (ms >= size) {
      const n = Math.floor(ms / size);
      return `${n} ${unit}${n === 1 ? '' : 's'}`;
    }
  }
  return 'under a minute';
}
