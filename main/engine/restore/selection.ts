// What a restore brings back (issue 10 section 2): the vault's locations matching the
// person's filters (device, folder, path glob, capture time, a moment in the history), in the
// vault's registration order, each with the raw bytes of its path.
//
// Invariant: the selection is a pure function of the vault's answers and the filters (same
// vault, same filters: same items in the same order), which is what lets a second run find
// and skip everything the first one restored.
import picomatch from 'picomatch';
import type { LocationJson } from '../../../common/vault-protocol.js';
import { KeepsakeError } from '../errors.js';
import type { VaultClient } from '../vault/vault-client.js';

export interface RestoreFilters {
  /** A device's name or id; undefined: every device. */
  device?: string;
  /** A folder label; undefined: every folder. */
  folder?: string;
  /** A glob over the path inside the folder (case-sensitive, `**` spans folders). */
  pathGlob?: string;
  /** Capture time bounds, unix ms: since inclusive, until exclusive. */
  sinceMs?: number;
  untilMs?: number;
  /** The places held at this moment (unix ms, the vault's clock); undefined: now. */
  atMs?: number;
}

export interface RestoreItem {
  sha256: string;
  size: number;
  mtimeMs: number | null;
  deviceName: string;
  folder: string;
  /** the path inside the folder, exact bytes ('/'-separated) */
  path: Buffer;
  /** the same, for display */
  displayPath: string;
}

const pageSize = 1000;

/** Resolves a device name or id to the ids the vault knows it by. */
async function deviceIds(
  vault: VaultClient,
  device: string,
  signal?: AbortSignal,
): Promise<string[]> {
  const known = await vault.devices(signal);
  const byId = known.filter((d) => d.deviceId === device);
  if (byId.length > 0) return [device];
  const byName = known.filter((d) => d.deviceName === device).map((d) => d.deviceId);
  if (byName.length > 0) return byName;
  const names = [...new Set(known.map((d) => d.deviceName))].sort();
  throw new KeepsakeError(
    'invalid_argument',
    `The vault knows no device named "${device}"${names.length > 0 ? ` (it knows: ${names.join(', ')})` : ''}.`,
  );
}

/**
 * The capture time (unix ms) of each of these contents, from the metadata the vault holds;
 * a content without one is absent from the map.
 */
async function captureTimes(
  vault: VaultClient,
  wanted: Set<string>,
  signal?: AbortSignal,
): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  let after: string | null = null;
  do {
    const page = await vault.listAssets(after, pageSize, signal);
    for (const asset of page.assets) {
      if (!wanted.has(asset.sha256)) continue;
      const meta = asset.metadata as { captureTime?: unknown } | null;
      const t = typeof meta?.captureTime === 'string' ? Date.parse(meta.captureTime) : NaN;
      if (Number.isFinite(t)) times.set(asset.sha256, t);
    }
    after = page.next;
  } while (after !== null);
  return times;
}

function toItem(l: LocationJson): RestoreItem {
  return {
    sha256: l.sha256,
    size: l.size,
    mtimeMs: l.mtimeMs,
    deviceName: l.deviceName,
    folder: l.folder,
    path: Buffer.from(l.pathB64, 'base64'),
    displayPath: l.path,
  };
}

/** Every location matching the filters, in the vault's order. */
export async function selectRestoreItems(
  vault: VaultClient,
  filters: RestoreFilters,
  signal?: AbortSignal,
): Promise<RestoreItem[]> {
  const devices =
    filters.device === undefined ? [undefined] : await deviceIds(vault, filters.device, signal);
  const matchPath =
    filters.pathGlob === undefined ? null : picomatch(filters.pathGlob, { dot: true });
  const items: RestoreItem[] = [];
  for (const device of devices) {
    const query: Record<string, string> = {};
    if (device !== undefined) query.device = device;
    if (filters.folder !== undefined) query.folder = filters.folder;
    if (filters.atMs !== undefined) query.at = String(filters.atMs);
    let after: string | null = null;
    do {
      const page = await vault.listLocations(query, after, pageSize, signal);
      for (const l of page.locations) {
        if (matchPath !== null && !matchPath(l.path)) continue;
        items.push(toItem(l));
      }
      after = page.next;
    } while (after !== null);
  }
  if (filters.sinceMs === undefined && filters.untilMs === undefined) return items;
  // By capture time: the photo's own date from its metadata, else the file's mtime.
  const times = await captureTimes(vault, new Set(items.map((i) => i.sha256)), signal);
  return items.filter((item) => {
    const t = times.get(item.sha256) ?? item.mtimeMs;
    if (t === null) return false;
    if (filters.sinceMs !== undefined && t < filters.sinceMs) return false;
    if (filters.untilMs !== undefined && t >= filters.untilMs) return false;
    return true;
  });
}

/**
 * A date from the command line as unix ms: an ISO date-time (with or without offset; without
 * one it is local time), or a bare date YYYY-MM-DD, which means local midnight at the start
 * of that day, or with `endOfDay` the start of the next one (so `--until 2020-12-31` takes in
 * the whole last day).
 */
export function parseDateOption(text: string, endOfDay = false): number {
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
  if (day) {
    const [, y, m, d] = day;
    const t = new Date(Number(y), Number(m) - 1, Number(d) + (endOfDay ? 1 : 0)).getTime();
    if (Number.isFinite(t) && Number(m) >= 1 && Number(m) <= 12 && Number(d) <= 31) return t;
  } else if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(text.trim())) {
    const t = Date.parse(text.trim().replace(' ', 'T'));
    if (Number.isFinite(t)) return t;
  }
  throw new KeepsakeError(
    'invalid_argument',
    `"${text}" is not a date (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][±HH:MM])`,
  );
}
