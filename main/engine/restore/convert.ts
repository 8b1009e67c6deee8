// `keepsake restore --convert heic=jpeg[,hevc=h264] [--keep-originals]` (issue 15 section 4):
// beside each restored original that a rule matches, a compatible copy the vault makes
// (GET content?format=, main/engine/vault/converted-content.ts), checked to decode before it
// gets its name. See [Note: Restoring compatible copies].
//
// [Note: Restoring compatible copies]
// - The original is restored and proven by its SHA-256 exactly as without --convert; the
//   copy is made from it on the vault (which converts only bytes that hashed to the asset).
// - The copy is checked before it is named: a JPEG is decoded whole by sharp (its pixels,
//   not only its header); an MP4 is read by ffprobe where one is on PATH (a video stream
//   must be H.264), else (or under a folder name that is not UTF-8) its first box must be
//   `ftyp`; the summary says which check each copy passed. A copy that fails is removed and the
//   original stays, with the reason in the summary.
// - Its name is the original's stem with .jpg / .mp4 (IMG_1234.HEIC -> IMG_1234.jpg). A name
//   already taken is never overwritten: "IMG_1234 (converted).jpg", then "(converted 2)", ...,
//   and the summary says so.
// - Without --keep-originals the originals this run restored and converted are removed at
//   the end of the run (never a file that was already there; a copy that failed keeps its
//   original). hevc=h264 converts only videos the vault would re-encode: one already H.264
//   is left as it is.
// - Only files this run restores are converted: a re-run skips what is there, so it makes
//   no second copy of a kept original.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants, open, readFile, rm, utimes } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import type { ConvertFormat } from '../../../common/vault-protocol.js';
import { KeepsakeError } from '../errors.js';
import { type ConvertSource, conversionPlan, fetchConverted } from '../vault/converted-content.js';
import { placePartial } from './fetch-content.js';

export interface ConvertRules {
  /** HEIC/HEIF photos -> JPEG */
  heic?: 'jpeg';
  /** HEVC (any non-H.264) videos -> H.264 MP4 */
  hevc?: 'h264';
}

export interface ConvertOptions {
  rules: ConvertRules;
  /** keep the originals beside their copies (default: the copies replace them) */
  keepOriginals: boolean;
}

const HEIC_EXTENSIONS = new Set(['heic', 'heif', 'hif']);
const VIDEO_EXTENSIONS = new Set(['mov', 'mp4', 'm4v', '3gp', '3g2', 'mkv', 'avi', 'mts', 'm2ts']);

/** "heic=jpeg,hevc=h264" -> rules; throws a message naming what is wrong. */
export function parseConvertRules(text: string): ConvertRules {
  const rules: ConvertRules = {};
  for (const part of text.split(',').map((p) => p.trim().toLowerCase())) {
    if (part === '') continue;
    if (part === 'heic=jpeg' || part === 'heic=jpg') rules.heic = 'jpeg';
    else if (part === 'hevc=h264' || part === 'hevc=mp4') rules.hevc = 'h264';
    else throw new Error(`unknown conversion "${part}" (known: heic=jpeg, hevc=h264)`);
  }
  if (rules.heic === undefined && rules.hevc === undefined) {
    throw new Error('no conversion given (known: heic=jpeg, hevc=h264)');
  }
  return rules;
}

function extensionOf(name: string): string {
  const slash = name.lastIndexOf('/');
  const dot = name.lastIndexOf('.');
  return dot > slash + 1 ? name.slice(dot + 1).toLowerCase() : '';
}

/** The format a rule asks for this path, or null. */
export function formatFor(rules: ConvertRules, displayPath: string): ConvertFormat | null {
  const ext = extensionOf(displayPath);
  if (rules.heic === 'jpeg' && HEIC_EXTENSIONS.has(ext)) return 'jpeg';
  if (rules.hevc === 'h264' && VIDEO_EXTENSIONS.has(ext)) return 'mp4';
  return null;
}

/** "dir/IMG_1234.HEIC" -> "dir/IMG_1234.jpg" (n = 0), "dir/IMG_1234 (converted n).jpg". */
export function convertedName(original: Buffer, format: ConvertFormat, n: number): Buffer {
  const slash = original.lastIndexOf(0x2f);
  const name = original.subarray(slash + 1);
  const dot = name.lastIndexOf(0x2e);
  const stem = original.subarray(0, dot > 0 ? slash + 1 + dot : original.length);
  const tag = n === 0 ? '' : n === 1 ? ' (converted)' : ` (converted ${n})`;
  return Buffer.concat([stem, Buffer.from(`${tag}.${format === 'jpeg' ? 'jpg' : 'mp4'}`)]);
}

async function onPath(name: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      await access(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

/** How the copy was checked; throws when it does not decode. */
async function checkDecodes(path: Buffer, format: ConvertFormat): Promise<string> {
  if (format === 'jpeg') {
    const { default: sharp } = await import('sharp');
    // The path is bytes (a name need not be UTF-8), and sharp takes a Buffer as the image.
    const image = sharp(await readFile(path), { failOn: 'error' });
    const meta = await image.metadata();
    if (meta.format !== 'jpeg')
      throw new Error(`the copy is ${meta.format ?? 'unknown'}, not JPEG`);
    await image.stats(); // decodes every pixel
    return 'decoded';
  }
  const ffprobe = await onPath('ffprobe');
  // ffprobe takes its path as text: a folder name that is not UTF-8 gets the ftyp check.
  if (ffprobe !== null && Buffer.from(path.toString('utf8')).equals(path)) {
    const { stdout } = await promisify(execFile)(
      ffprobe,
      ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', path.toString()],
      { timeout: 60_000 },
    ); // prettier-ignore
    if (stdout.trim() !== 'h264')
      throw new Error(`ffprobe reads the copy's video as "${stdout.trim()}"`);
    return 'ffprobe';
  }
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(8);
    await fh.read(head, 0, 8, 0);
    if (head.subarray(4, 8).toString('latin1') !== 'ftyp') throw new Error('not an MP4 file');
  } finally {
    await fh.close();
  }
  return 'ftyp';
}

export type ConvertOutcome =
  | { kind: 'converted'; target: Buffer; renamedFrom: Buffer | null; checked: string }
  | { kind: 'left'; reason: string };

/**
 * Writes the compatible copy of the restored `original` (content `sha256`) beside it.
 * Throws a KeepsakeError when the vault refuses or the copy does not decode.
 */
export async function writeConvertedCopy(
  source: ConvertSource,
  sha256: string,
  original: Buffer,
  format: ConvertFormat,
  mtimeMs: number | null,
  signal: AbortSignal,
): Promise<ConvertOutcome> {
  if (format === 'mp4') {
    const plan = await conversionPlan(source, sha256, format, signal);
    if (plan !== 'transcoded') return { kind: 'left', reason: 'already H.264' };
  }
  const dir = original.subarray(0, original.lastIndexOf(0x2f));
  const temp = Buffer.concat([
    dir,
    Buffer.from(`/.keepsake-convert-${randomBytes(6).toString('hex')}`),
  ]);
  try {
    await fetchConverted(source, sha256, format, temp, signal);
    let checked: string;
    try {
      checked = await checkDecodes(temp, format);
    } catch (err) {
      throw new KeepsakeError(
        'verification_failed',
        `the converted copy does not decode: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    if (mtimeMs !== null) await utimes(temp, mtimeMs / 1000, mtimeMs / 1000);
    const wanted = convertedName(original, format, 0);
    for (let n = 0; n < 1000; n++) {
      const target = convertedName(original, format, n);
      try {
        await placePartial(temp, target);
        return { kind: 'converted', target, renamedFrom: n === 0 ? null : wanted, checked };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    throw new KeepsakeError('internal', 'too many files already have the converted name');
  } finally {
    await rm(temp, { force: true });
  }
}
