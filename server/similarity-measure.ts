// What the vault measures of a photo's preview for the "Similar photos" review (issue 15
// section 1): a 64-bit perceptual hash (sharp-phash: a DCT over the 32x32 greyscale picture,
// one bit per low frequency above the mean) and a sharpness figure. Pure work on the preview
// JPEG's bytes: it writes nothing and knows nothing of the index (previews.ts records it).
// Invariant: both figures come from the 1440 px preview the vault made, never from the
// original, so a photo measured on upload and one measured by the backfill (from the preview
// file on disk) get the same numbers.
//
// [Note: Sharpness is measured at one size]
// The variance of a 3x3 Laplacian grows with resolution and falls with blur. To compare a
// 4000 px original with its 1000 px resized copy fairly, the preview is first brought to
// SHARPNESS_SIZE px on its longest side (greyscale), then the Laplacian's variance is taken
// over the interior pixels. It only ranks members of one group (the keep suggestion's last
// tie-break), so its scale carries no meaning of its own.

type SharpFunction = (typeof import('sharp'))['default'];
type PhashFunction = (typeof import('sharp-phash'))['default'];

const SHARPNESS_SIZE = 512;

export interface SimilarityMeasure {
  /** 16 lowercase hex digits: the 64-bit perceptual hash */
  phash: string;
  /** variance of the Laplacian at SHARPNESS_SIZE px (See [Note: Sharpness is measured at one size]) */
  sharpness: number;
}

let loaded: Promise<{ sharp: SharpFunction; phash: PhashFunction }> | undefined;

/** sharp and sharp-phash, loaded with the first measure (as preview-render.ts loads sharp). */
function load(): Promise<{ sharp: SharpFunction; phash: PhashFunction }> {
  loaded ??= Promise.all([import('sharp'), import('sharp-phash')]).then(([s, p]) => ({
    sharp: s.default,
    // A CommonJS module whose export is the function: Node hands it over as `default`.
    phash: p.default as unknown as PhashFunction,
  }));
  return loaded;
}

/** sharp-phash's 64-character '0'/'1' string as 16 hex digits. */
export function bitsToHex(bits: string): string {
  if (!/^[01]{64}$/.test(bits)) throw new Error('a perceptual hash must be 64 bits');
  return BigInt(`0b${bits}`).toString(16).padStart(16, '0');
}

/** Hamming distance of two 16-hex-digit hashes (0-64). */
export function hammingDistance(a: string, b: string): number {
  let x = BigInt(`0x${a}`) ^ BigInt(`0x${b}`);
  let n = 0;
  while (x > 0n) {
    x &= x - 1n;
    n++;
  }
  return n;
}

/** Variance of the 4-neighbour Laplacian over the interior of a greyscale raster. */
export function laplacianVariance(grey: Uint8Array, width: number, height: number): number {
  if (width < 3 || height < 3) return 0;
  let sum = 0;
  let sumSq = 0;
  let n = 0;
  for (let y = 1; y < height - 1; y++) {
    const row = y * width;
    for (let x = 1; x < width - 1; x++) {
      const i = row + x;
      const v =
        (grey[i - 1] ?? 0) +
        (grey[i + 1] ?? 0) +
        (grey[i - width] ?? 0) +
        (grey[i + width] ?? 0) -
        4 * (grey[i] ?? 0);
      sum += v;
      sumSq += v * v;
      n++;
    }
  }
  const mean = sum / n;
  return sumSq / n - mean * mean;
}

/** Measures one preview (a JPEG the vault made). Throws when the bytes do not decode. */
export async function measurePreview(preview: Buffer): Promise<SimilarityMeasure> {
  const { sharp, phash } = await load();
  const [bits, grey] = await Promise.all([
    phash(preview, { failOn: 'none' }),
    sharp(preview, { failOn: 'none' })
      .greyscale()
      .resize(SHARPNESS_SIZE, SHARPNESS_SIZE, { fit: 'inside', withoutEnlargement: true })
      .raw()
      .toBuffer({ resolveWithObject: true }),
  ]);
  return {
    phash: bitsToHex(bits),
    sharpness: laplacianVariance(grey.data, grey.info.width, grey.info.height),
  };
}
