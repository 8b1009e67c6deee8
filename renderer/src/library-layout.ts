// The Library's timeline as rows of a virtual list: a day heading, then that day's tiles in
// rows of `columns`. Pure, so the 100,000-tile arithmetic is testable without a browser.
// Invariant: rows are in timeline order, each row's top is the sum of the heights above it,
// and every tile is in exactly one row.

/** The little of a tile the layout needs. */
export interface LayoutTile {
  /** ISO 8601 with the offset it was taken at, or null */
  captureTime: string | null;
  /** unix ms: the sort key */
  takenAt: number;
}

export type LayoutRow =
  | { kind: 'day'; day: string; top: number; height: number; count: number }
  | { kind: 'tiles'; first: number; end: number; top: number; height: number };

/**
 * The day a photo was taken where it was taken (the date part of its own capture time), so a
 * photo taken at 23:30 in Tokyo is on that Tokyo day wherever it is looked at. Without a
 * capture time: the local day of the time it sorts by.
 */
export function dayOf(tile: LayoutTile): string {
  const m = tile.captureTime === null ? null : /^(\d{4}-\d{2}-\d{2})/.exec(tile.captureTime);
  if (m?.[1] !== undefined) return m[1];
  const d = new Date(tile.takenAt);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/**
 * Lays out tiles (already in timeline order) into day headings and tile rows. Consecutive
 * tiles of one day share a heading; a day that comes back later (zones differ) gets another.
 */
export function layoutTimeline(
  tiles: readonly LayoutTile[],
  columns: number,
  tileRowHeight: number,
  dayHeight: number,
): { rows: LayoutRow[]; height: number } {
  const rows: LayoutRow[] = [];
  const cols = Math.max(1, Math.floor(columns));
  let top = 0;
  let i = 0;
  while (i < tiles.length) {
    const day = dayOf(tiles[i] as LayoutTile);
    let end = i + 1;
    while (end < tiles.length && dayOf(tiles[end] as LayoutTile) === day) end++;
    rows.push({ kind: 'day', day, top, height: dayHeight, count: end - i });
    top += dayHeight;
    for (let first = i; first < end; first += cols) {
      rows.push({
        kind: 'tiles',
        first,
        end: Math.min(end, first + cols),
        top,
        height: tileRowHeight,
      });
      top += tileRowHeight;
    }
    i = end;
  }
  return { rows, height: top };
}

/**
 * The rows [start, end) that meet the viewport (plus `overscan` pixels above and below):
 * a binary search over the rows' tops, so it costs log(rows) however far it is scrolled.
 */
export function rowsInView(
  rows: readonly { top: number; height: number }[],
  scrollTop: number,
  viewportHeight: number,
  overscan = 400,
): { start: number; end: number } {
  if (rows.length === 0) return { start: 0, end: 0 };
  const from = Math.max(0, scrollTop - overscan);
  const to = scrollTop + Math.max(0, viewportHeight) + overscan;
  // first row whose bottom is below `from`
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const r = rows[mid] as { top: number; height: number };
    if (r.top + r.height <= from) lo = mid + 1;
    else hi = mid;
  }
  const start = lo;
  let end = start;
  while (end < rows.length && (rows[end] as { top: number }).top < to) end++;
  return { start, end };
}

/** The Library's Device filter: each device that holds a folder, once, in name order, with
 * its folders' contents summed (an asset in two folders counts twice: "about", not exact). */
export function devicesOf(
  folders: readonly { deviceId: string; deviceName: string; folder: string; assets: number }[],
): { deviceId: string; deviceName: string; assets: number }[] {
  const byId = new Map<string, { deviceId: string; deviceName: string; assets: number }>();
  for (const f of folders) {
    const seen = byId.get(f.deviceId);
    if (seen) seen.assets += f.assets;
    else byId.set(f.deviceId, { deviceId: f.deviceId, deviceName: f.deviceName, assets: f.assets });
  }
  return [...byId.values()].sort(
    (a, b) => a.deviceName.localeCompare(b.deviceName) || a.deviceId.localeCompare(b.deviceId),
  );
}
