// Which photos the "Similar photos" review puts together, what kind of group each is, and
// which member it suggests keeping (issue 15 section 1). Pure: photos in, groups out; no
// index, no clock. Every rule is a row of PAIR_RULES or KEEP_ORDER below, and each is tested
// (tests/unit/server/similar-policy.test.ts).
// Invariant: two contents of one asset group (a Live Photo's still and video, a RAW and its
// JPEG, an original and its declared edit, a photo and its sidecar) are never in one similar
// group: they are one asset to a person, and a group's primary stands for them all.
//
// [Note: Similar-photo thresholds]
// Measured on the corpus (/work/shared/corpus, 250 photos the vault can decode, 31,125 pairs)
// with the vault's own pipeline (1440 px preview, then sharp-phash's 64-bit DCT hash):
// - Copies the test makes of every corpus photo: resized to half, re-encoded at JPEG quality
//   60, 4 px cropped off each side. For pictures at least 200 px on their short side the
//   Hamming distance to the source was 0-6 (resize 0-6, quality 60 0-3, crop 0-8 on a 200 px
//   picture); a 4 px crop of a 100 px thumbnail moves it 6-22 (8 % of the picture is gone).
// - Unrelated photos: no pair of different scenes came closer than 15; 59 pairs lie at 15-20.
// So a near-copy is within NEAR_COPY_DISTANCE = 10 (between the copies' 8 and the strangers'
// 15), whenever the photos were taken. Frames made like a burst's (shifted 1-4 % and
// brightened 2-8 %) moved 2-13. A burst (same camera, shots seconds apart) may move
// more between frames, so it allows BURST_DISTANCE = 14, still below every unrelated pair, and
// only for the same camera make and model within BURST_WINDOW_MS of capture time.
// Pictures too small to say anything (under MIN_SIDE px: ExifTool's 8x8 test stubs all hash
// alike) or flat (the Laplacian's variance under FLAT_SHARPNESS: a blank or stripped image)
// are never grouped: their hashes are the same for any scene.
import type { SimilarKind } from '../common/vault-protocol.js';
import { hammingDistance } from './similarity-measure.js';

export const NEAR_COPY_DISTANCE = 10;
export const BURST_DISTANCE = 14;
export const BURST_WINDOW_MS = 5_000;
export const MIN_SIDE = 32;
export const FLAT_SHARPNESS = 1;

/** What the policy needs of one photo. */
export interface SimilarPhoto {
  /** assets.id: the stable order and the group's id */
  id: number;
  sha256: string;
  /** bytes a person would reclaim by moving it to the trash (its whole asset group's) */
  bytes: number;
  phash: string;
  sharpness: number;
  width: number | null;
  height: number | null;
  /** capture time from the photo's metadata, unix ms; null when it had none */
  capturedAt: number | null;
  /** camera make and model, e.g. "Apple iPhone 4"; null when unknown */
  camera: string | null;
  /** its asset group's id, null when it stands alone */
  assetGroup: number | null;
  /** an edited copy (declared, or named like one: IMG_E1234, -edited, _edited) */
  isEdit: boolean;
  /** a favourite where it came from, or its star rating (0-5, -1 rejected) */
  favorite: boolean;
  rating: number;
}

export interface SimilarGroupResult<P extends SimilarPhoto = SimilarPhoto> {
  /** the smallest member id: stable while the group's first photo stays in it */
  id: number;
  kind: SimilarKind;
  /** in id order */
  members: P[];
  suggestedKeep: P;
  /** bytes of every member but the suggested one */
  reclaimableBytes: number;
}

type PairVerdict = 'near-copy' | 'burst' | 'apart';

/** A rule about one pair: the first that answers decides. */
interface PairRule {
  rule: string;
  decide: (a: SimilarPhoto, b: SimilarPhoto, distance: number) => PairVerdict | undefined;
}

/** Whether a photo's hash can be trusted to say what its scene is. */
export function isComparable(p: SimilarPhoto): boolean {
  if (p.sharpness < FLAT_SHARPNESS) return false;
  if (p.width !== null && p.height !== null && Math.min(p.width, p.height) < MIN_SIDE) return false;
  return true;
}

export const PAIR_RULES: readonly PairRule[] = [
  {
    rule: 'contents of one asset group are one asset, never similar to each other',
    decide: (a, b) =>
      a.assetGroup !== null && a.assetGroup === b.assetGroup ? 'apart' : undefined,
  },
  {
    rule: 'a tiny or flat picture says nothing of its scene',
    decide: (a, b) => (!isComparable(a) || !isComparable(b) ? 'apart' : undefined),
  },
  {
    rule: 'within NEAR_COPY_DISTANCE, whenever taken: a near-copy',
    decide: (_a, _b, d) => (d <= NEAR_COPY_DISTANCE ? 'near-copy' : undefined),
  },
  {
    rule: 'same camera, within BURST_WINDOW_MS, within BURST_DISTANCE: a burst',
    decide: (a, b, d) =>
      a.camera !== null &&
      a.camera === b.camera &&
      a.capturedAt !== null &&
      b.capturedAt !== null &&
      Math.abs(a.capturedAt - b.capturedAt) <= BURST_WINDOW_MS &&
      d <= BURST_DISTANCE
        ? 'burst'
        : undefined,
  },
  { rule: 'otherwise apart', decide: () => 'apart' },
];

export function pairVerdict(a: SimilarPhoto, b: SimilarPhoto): PairVerdict {
  const d = hammingDistance(a.phash, b.phash);
  for (const r of PAIR_RULES) {
    const v = r.decide(a, b, d);
    if (v !== undefined) return v;
  }
  return 'apart';
}

/**
 * The keep suggestion's order, first difference wins: higher resolution, then the original
 * over an edit (a declared or named edit, then a smaller re-encode), then a favourite (then a higher rating), then the sharper, then the first
 * uploaded (so the answer is stable).
 */
export const KEEP_ORDER: readonly {
  rule: string;
  compare: (a: SimilarPhoto, b: SimilarPhoto) => number;
}[] = [
  { rule: 'more pixels', compare: (a, b) => pixels(b) - pixels(a) },
  { rule: 'the original over an edit', compare: (a, b) => Number(a.isEdit) - Number(b.isEdit) },
  // An unnamed re-encode is an edit too: the same pixels in fewer bytes were compressed again.
  { rule: 'the original over a re-encode (more bytes)', compare: (a, b) => b.bytes - a.bytes },
  { rule: 'a favourite', compare: (a, b) => Number(b.favorite) - Number(a.favorite) },
  { rule: 'a higher rating', compare: (a, b) => b.rating - a.rating },
  { rule: 'sharper', compare: (a, b) => b.sharpness - a.sharpness },
  { rule: 'uploaded first', compare: (a, b) => a.id - b.id },
];

function pixels(p: SimilarPhoto): number {
  return (p.width ?? 0) * (p.height ?? 0);
}

export function suggestKeep<P extends SimilarPhoto>(members: readonly P[]): P {
  const sorted = [...members].sort((a, b) => {
    for (const k of KEEP_ORDER) {
      const c = k.compare(a, b);
      if (c !== 0) return c;
    }
    return 0;
  });
  const first = sorted[0];
  if (first === undefined) throw new Error('a similar group without members');
  return first;
}

/**
 * A group is a burst when it holds distinct shots: two members from one camera captured at
 * different instants. Copies of one shot (same capture instant, or no capture time) are
 * near-copies.
 */
function kindOf(members: readonly SimilarPhoto[]): SimilarKind {
  const instants = new Map<string, Set<number>>();
  for (const m of members) {
    if (m.camera === null || m.capturedAt === null) continue;
    const set = instants.get(m.camera) ?? new Set<number>();
    set.add(m.capturedAt);
    instants.set(m.camera, set);
  }
  return [...instants.values()].some((s) => s.size > 1) ? 'burst' : 'near-copy';
}

/**
 * Groups photos: two photos joined by a pair rule are in one group, and so, transitively, are
 * their other partners; a group never holds two contents of one asset group (the later one
 * is left out of it). Groups come in order of their id.
 */
export function groupSimilar<P extends SimilarPhoto>(
  photos: readonly P[],
): SimilarGroupResult<P>[] {
  const list = [...photos].filter(isComparable).sort((a, b) => a.id - b.id);
  const parent = list.map((_, i) => i);
  const find = (i: number): number => {
    let r = i;
    while (parent[r] !== r) r = parent[r] ?? r;
    let j = i;
    while (parent[j] !== r) {
      const next = parent[j] ?? r;
      parent[j] = r;
      j = next;
    }
    return r;
  };
  // Bits of each hash as two 32-bit halves: the distance check runs for every pair.
  const hi = new Uint32Array(list.length);
  const lo = new Uint32Array(list.length);
  list.forEach((p, i) => {
    hi[i] = Number.parseInt(p.phash.slice(0, 8), 16) >>> 0;
    lo[i] = Number.parseInt(p.phash.slice(8), 16) >>> 0;
  });
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const d = popcount((hi[i] ?? 0) ^ (hi[j] ?? 0)) + popcount((lo[i] ?? 0) ^ (lo[j] ?? 0));
      if (d > BURST_DISTANCE) continue; // no rule joins them: skip the full check
      const a = list[i];
      const b = list[j];
      if (a === undefined || b === undefined) continue;
      if (pairVerdict(a, b) !== 'apart') parent[find(j)] = find(i);
    }
  }
  const byRoot = new Map<number, P[]>();
  list.forEach((p, i) => {
    const root = find(i);
    const members = byRoot.get(root) ?? [];
    // One asset, one place: a second content of an asset group joined through a third
    // photo stays out (See the invariant above).
    if (p.assetGroup === null || !members.some((m) => m.assetGroup === p.assetGroup)) {
      members.push(p);
    }
    byRoot.set(root, members);
  });
  const groups: SimilarGroupResult<P>[] = [];
  for (const members of byRoot.values()) {
    if (members.length < 2) continue;
    const keep = suggestKeep(members);
    groups.push({
      id: members[0]?.id ?? 0,
      kind: kindOf(members),
      members,
      suggestedKeep: keep,
      reclaimableBytes: members.reduce((s, m) => s + (m === keep ? 0 : m.bytes), 0),
    });
  }
  return groups.sort((a, b) => a.id - b.id);
}

function popcount(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Names that say a file is an edited copy: Apple's IMG_E1234, Google's -edited, iOS _edited. */
export function looksLikeEdit(filename: string): boolean {
  return /^IMG_E\d/i.test(filename) || /[-_ ]edited(\(\d+\))?\.[^.]+$/i.test(filename);
}
