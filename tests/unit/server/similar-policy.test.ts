// Every rule of the similar-photos policy (server/similar-policy.ts): which pairs are joined,
// what kind a group is, and which member the review suggests keeping.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BURST_DISTANCE,
  BURST_WINDOW_MS,
  FLAT_SHARPNESS,
  groupSimilar,
  KEEP_ORDER,
  looksLikeEdit,
  MIN_SIDE,
  NEAR_COPY_DISTANCE,
  PAIR_RULES,
  pairVerdict,
  type SimilarPhoto,
  suggestKeep,
} from '../../../server/similar-policy.js';
import {
  bitsToHex,
  hammingDistance,
  laplacianVariance,
} from '../../../server/similarity-measure.js';

const BASE = '0f0f0f0f0f0f0f0f';

/** A hash `d` bits away from BASE (flipping its lowest bits). */
function away(d: number): string {
  const flipped = BigInt(`0x${BASE}`) ^ ((1n << BigInt(d)) - 1n);
  return flipped.toString(16).padStart(16, '0');
}

let nextId = 1;
function photo(p: Partial<SimilarPhoto> = {}): SimilarPhoto {
  const id = p.id ?? nextId++;
  return {
    id,
    sha256: p.sha256 ?? id.toString(16).padStart(64, '0'),
    bytes: 1000,
    phash: BASE,
    sharpness: 100,
    width: 1000,
    height: 800,
    capturedAt: null,
    camera: null,
    assetGroup: null,
    isEdit: false,
    favorite: false,
    rating: 0,
    ...p,
  };
}

describe('similar photos: measures', () => {
  it('hashes are 16 hex digits and their distance counts differing bits', () => {
    assert.equal(bitsToHex('1'.repeat(64)), 'ffffffffffffffff');
    assert.equal(bitsToHex('0'.repeat(63) + '1'), '0000000000000001');
    assert.equal(hammingDistance(BASE, away(7)), 7);
    assert.equal(hammingDistance('ffffffffffffffff', '0000000000000000'), 64);
  });

  it('a flat picture has no sharpness; an edge has some', () => {
    assert.equal(laplacianVariance(new Uint8Array(25).fill(128), 5, 5), 0);
    const edge = new Uint8Array(25).map((_, i) => (i % 5 < 2 ? 0 : 255));
    assert.ok(laplacianVariance(edge, 5, 5) > 0);
  });
});

describe('similar photos: pair rules', () => {
  it('each rule has a name a person can read, and the table ends with a rule that always answers', () => {
    for (const r of PAIR_RULES) assert.ok(r.rule.length > 10);
    assert.equal(PAIR_RULES.at(-1)?.decide(photo(), photo(), 64), 'apart');
  });

  it('contents of one asset group are never similar, however alike', () => {
    assert.equal(pairVerdict(photo({ assetGroup: 7 }), photo({ assetGroup: 7 })), 'apart');
    assert.equal(pairVerdict(photo({ assetGroup: 7 }), photo({ assetGroup: 8 })), 'near-copy');
  });

  it('a tiny or flat picture is never grouped', () => {
    assert.equal(pairVerdict(photo({ width: MIN_SIDE - 1 }), photo()), 'apart');
    assert.equal(pairVerdict(photo(), photo({ sharpness: FLAT_SHARPNESS / 2 })), 'apart');
    assert.equal(pairVerdict(photo({ width: null, height: null }), photo()), 'near-copy');
  });

  it('within the near-copy distance, photos are near-copies whenever they were taken', () => {
    const a = photo({ capturedAt: 0, camera: 'A 1' });
    assert.equal(pairVerdict(a, photo({ phash: away(NEAR_COPY_DISTANCE) })), 'near-copy');
    assert.equal(
      pairVerdict(a, photo({ phash: away(NEAR_COPY_DISTANCE), capturedAt: 1e12 })),
      'near-copy',
    );
    assert.equal(pairVerdict(a, photo({ phash: away(NEAR_COPY_DISTANCE + 1) })), 'apart');
  });

  it('a burst needs the same camera, capture times within the window, and the loose distance', () => {
    const a = photo({ capturedAt: 1_000_000, camera: 'Canon EOS 7D' });
    const frame = (p: Partial<SimilarPhoto>) =>
      photo({ phash: away(BURST_DISTANCE), camera: 'Canon EOS 7D', ...p });
    assert.equal(pairVerdict(a, frame({ capturedAt: 1_000_000 + BURST_WINDOW_MS })), 'burst');
    assert.equal(pairVerdict(a, frame({ capturedAt: 1_000_000 + BURST_WINDOW_MS + 1 })), 'apart');
    assert.equal(
      pairVerdict(a, frame({ capturedAt: 1_000_500, camera: 'Nikon D70' })),
      'apart',
      'another camera',
    );
    assert.equal(pairVerdict(a, frame({ capturedAt: null })), 'apart', 'no capture time');
    assert.equal(
      pairVerdict(a, frame({ capturedAt: 1_000_500, phash: away(BURST_DISTANCE + 1) })),
      'apart',
      'too different',
    );
    assert.equal(
      pairVerdict(photo({ capturedAt: 0 }), photo({ capturedAt: 0, phash: away(BURST_DISTANCE) })),
      'apart',
      'unknown camera',
    );
  });
});

describe('similar photos: groups', () => {
  it('joins transitively, leaves lone photos out, and orders groups by their first photo', () => {
    const a = photo({ id: 10 });
    const b = photo({ id: 11, phash: away(8) });
    const c = photo({ id: 12, phash: away(16) }); // 8 from b, 16 from a
    const lone = photo({ id: 13, phash: 'f0f0f0f0f0f0f0f0' });
    const d = photo({ id: 5, phash: 'ffff0000ffff0000' });
    const e = photo({ id: 14, phash: 'ffff0000ffff0001' });
    const groups = groupSimilar([e, c, lone, b, a, d]);
    assert.deepEqual(
      groups.map((g) => g.members.map((m) => m.id)),
      [
        [5, 14],
        [10, 11, 12],
      ],
    );
    assert.deepEqual(
      groups.map((g) => g.id),
      [5, 10],
    );
  });

  it('a group never holds two contents of one asset group, even through a third photo', () => {
    const still = photo({ id: 1, assetGroup: 3 });
    const edit = photo({ id: 2, assetGroup: 3, isEdit: true });
    const copy = photo({ id: 3, phash: away(2) });
    const [g] = groupSimilar([still, edit, copy]);
    assert.deepEqual(
      g?.members.map((m) => m.id),
      [1, 3],
    );
  });

  it('distinct shots from one camera make a burst; copies of one shot are near-copies', () => {
    const shot = (id: number, at: number | null) =>
      photo({ id, capturedAt: at, camera: 'Apple iPhone 4', phash: away(id % 3) });
    assert.equal(groupSimilar([shot(1, 1000), shot(2, 2000), shot(3, 3000)])[0]?.kind, 'burst');
    assert.equal(groupSimilar([shot(1, 1000), shot(2, 1000)])[0]?.kind, 'near-copy');
    assert.equal(groupSimilar([shot(1, null), shot(2, null)])[0]?.kind, 'near-copy');
  });

  it('reclaimable bytes are every member but the suggested keep', () => {
    const [g] = groupSimilar([
      photo({ id: 1, width: 4000, height: 3000, bytes: 5000 }),
      photo({ id: 2, width: 2000, height: 1500, bytes: 1200 }),
      photo({ id: 3, width: 2000, height: 1500, bytes: 800 }),
    ]);
    assert.equal(g?.suggestedKeep.id, 1);
    assert.equal(g?.reclaimableBytes, 2000);
  });
});

describe('similar photos: the keep suggestion', () => {
  it('states its rules in order', () => {
    assert.deepEqual(
      KEEP_ORDER.map((k) => k.rule),
      [
        'more pixels',
        'the original over an edit',
        'the original over a re-encode (more bytes)',
        'a favourite',
        'a higher rating',
        'sharper',
        'uploaded first',
      ],
    );
  });

  it('prefers more pixels over everything else', () => {
    const big = photo({ width: 4000, height: 3000, isEdit: true, sharpness: 1 });
    const small = photo({ width: 2000, height: 1500, favorite: true, sharpness: 900 });
    assert.equal(suggestKeep([small, big]), big);
  });

  it('then the original over an edit, then over a smaller re-encode', () => {
    const original = photo({ bytes: 100 });
    const edit = photo({ isEdit: true, bytes: 900, favorite: true });
    assert.equal(suggestKeep([edit, original]), original);
    const reencoded = photo({ bytes: 50, favorite: true, sharpness: 999 });
    assert.equal(suggestKeep([reencoded, original]), original);
  });

  it('then a favourite, then a higher rating, then the sharper, then the first uploaded', () => {
    const fav = photo({ favorite: true, sharpness: 1 });
    const plain = photo({ sharpness: 999, rating: 5 });
    assert.equal(suggestKeep([plain, fav]), fav);
    const rated = photo({ rating: 4, sharpness: 1 });
    assert.equal(suggestKeep([plain, rated]), plain, 'rating 5 over 4');
    const sharp = photo({ rating: 5, sharpness: 1000 });
    assert.equal(suggestKeep([plain, sharp]), sharp);
    const first = photo({ id: 1 });
    const second = photo({ id: 2 });
    assert.equal(suggestKeep([second, first]), first);
  });

  it('tells edits by their names', () => {
    for (const n of ['IMG_E1853.heic', 'IMG_4179-edited.jpeg', 'St James Park_edited.jpg'])
      assert.ok(looksLikeEdit(n), n);
    for (const n of ['IMG_1853.HEIC', 'IMG_EXTRA.jpg', 'edited.jpg', 'credited.jpg'])
      assert.ok(!looksLikeEdit(n), n);
  });
});
