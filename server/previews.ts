// The vault's previews: where their files live (previews/ab/<sha256>-thumb.jpg and
// -preview.jpg, beside blobs/ and outside the content-addressed space), the background
// worker that makes them, and the rebuild behind `keepsake vault previews --rebuild`.
// Invariant: a 'made' row in the index has both files on disk (they are written first), and
// an asset with no row is pending and gets made by a running vault.
//
// [Note: Preview work is the index]
// There is no separate queue: an asset without a previews row is pending. The worker walks
// the assets table by id from a cursor (pendingAfter), so on start it picks up everything
// left by a crash, by an older vault without previews, or by a rebuild, and a newly verified
// asset (VaultIndex.onNewAssets, the one place every upload path commits through) only wakes
// it: the upload's answer never waits for a picture. An attempt that fails for a passing
// reason (a write error, exiftool not starting) leaves no row, so it is tried again: the
// worker walks from the start again after RETRY_MIN_MS, doubling to RETRY_MAX_MS while
// failures go on, and at every start. A lasting one (undecodable, no decoder) is recorded as
// 'none' with its reason, and is the asset's note. Content whose damaged blob a new upload
// repaired is forgotten and made again (its old outcome came from the bad bytes). The pool is small and sharp runs one libvips thread per image
// (See [Note: Preview pacing]).
//
// [Note: Preview pacing]
// On the 2-core machines a vault often shares with the client, a thumbnail competes with the
// hashing of uploads, and the aim is an upload rate at most 10 % below that of a
// vault without previews. The worker runs `concurrency` pictures at a time (default 1) and
// sharp is limited to one libvips thread per picture, so previews take at most about one
// core. While uploads arrive (one was verified in the last UPLOAD_RECENT_MS) each lane also
// rests REST_FACTOR times as long as its last picture took (capped at MAX_REST_MS), so
// previews use at most a fifth of a core then, and run at full pace once the uploads stop.
// Measured on a quiet 2-core machine (bench 'previews', 1,408 JPEGs in batches to a vault
// process): resting only as long as the picture took (half a core) cost 22 % of the upload
// rate (625 vs 807 files/s); the aim is at most 10 %. A stop cuts the rest short.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BlobStore } from './blob-store.js';
import type { PendingPreview } from './index/preview-store.js';
import type { VaultIndex } from './index/vault-index.js';
import type { VaultLogger } from './logger.js';
import { SHA256_HEX } from '../common/vault-protocol.js';
import {
  createPreviewRenderer,
  curedReasons,
  findFfmpeg,
  findHeifDecoder,
  pictureSize,
  type PreviewRenderer,
  type RenderedPreviews,
} from './preview-render.js';
import { measurePreview } from './similarity-measure.js';

export const PREVIEWS_DIR = 'previews';
const PAGE = 64;
const UPLOAD_RECENT_MS = 1000;
const MAX_REST_MS = 2000;
const REST_FACTOR = 4;
const RETRY_MIN_MS = 60_000;
const RETRY_MAX_MS = 60 * 60_000;

export interface PreviewOptions {
  /** pictures made at once; default 1 (See [Note: Preview pacing]) */
  concurrency?: number;
  /** ffmpeg for video poster frames; default: `ffmpeg` on PATH, if any; null = none */
  ffmpegPath?: string | null;
  /** heif-dec/heif-convert for HEIC; default: the one on PATH, if any; null = none */
  heifDecoderPath?: string | null;
  /** what makes the pictures; default createPreviewRenderer (sharp, exiftool, ffmpeg) */
  renderer?: PreviewRenderer;
}

export type PreviewFileKind = 'thumb' | 'preview';

/** The preview files of each content, beside the blobs. */
export class PreviewFiles {
  constructor(readonly root: string) {}

  pathOf(sha256: string, which: PreviewFileKind): string {
    if (!SHA256_HEX.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return join(this.root, sha256.slice(0, 2), `${sha256}-${which}.jpg`);
  }

  /** Writes both files, each through a temp name (a reader never sees half a picture). */
  async write(sha256: string, images: RenderedPreviews): Promise<void> {
    const thumb = this.pathOf(sha256, 'thumb');
    await mkdir(dirname(thumb), { recursive: true });
    for (const [which, bytes] of [
      ['preview', images.preview],
      ['thumb', images.thumb],
    ] as const) {
      const final = this.pathOf(sha256, which);
      // Random, not the pid: vault nodes on other machines share this directory (NFS, EFS),
      // and two of them making the same picture at once must not write one temp file.
      const temp = `${final}.tmp-${randomBytes(6).toString('hex')}`;
      // Derived data: no fsync. A file lost to power loss is remade by a rebuild.
      await writeFile(temp, bytes);
      await rename(temp, final);
    }
  }

  async remove(sha256: string): Promise<void> {
    for (const which of ['thumb', 'preview'] as const) {
      await unlink(this.pathOf(sha256, which)).catch(() => undefined);
    }
  }

  async removeAll(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
    await mkdir(this.root, { recursive: true, mode: 0o700 });
  }
}

export interface PreviewWorkerDeps {
  index: VaultIndex;
  blobs: BlobStore;
  files: PreviewFiles;
  renderer: PreviewRenderer;
  logger: VaultLogger;
  now: () => number;
  concurrency?: number;
  /** where a compressed blob is decoded to a file for the renderer (uploads/: swept at start) */
  tempDir: string;
}

/** Makes pending previews in the background. See [Note: Preview work is the index]. */
export class PreviewWorker {
  private cursor = 0;
  private stopped = false;
  private woken = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private readonly concurrency: number;
  /** a passing failure happened since the last walk from the start */
  private failed = false;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  /** performance.now() of the last verified upload (See [Note: Preview pacing]) */
  private lastUploadAt = -Infinity;
  /** aborted by stop(), so a lane's rest does not hold the vault's close up */
  private readonly stopping = new AbortController();

  constructor(private readonly deps: PreviewWorkerDeps) {
    this.concurrency = Math.max(1, deps.concurrency ?? 1);
    // sharp's process-wide pacing (See [Note: Preview pacing]) is set where it is loaded, with
    // the first picture: loadSharp() in preview-render.ts.
  }

  /**
   * Forgets the reasons a tool added since has cured (HEIC before a HEIF decoder, videos
   * before ffmpeg), so those assets are pending again and get their pictures. Awaited before
   * the vault answers, so no status says the old reason after the tool is there.
   */
  async forgetCuredReasons(): Promise<void> {
    const n = await this.deps.index.previews.forgetReasons(curedReasons(this.deps.renderer));
    if (n > 0) this.deps.logger.info('previews to make again: a decoder was added', { n });
  }

  /** Starts the background loop from the first pending asset. */
  start(): void {
    this.loop ??= this.run();
  }

  /** New pending work exists (an upload was verified). Returns at once. */
  notify(): void {
    this.lastUploadAt = performance.now();
    this.wakeUp();
  }

  private wakeUp(): void {
    this.woken = true;
    this.wake?.();
  }

  /** Makes everything pending after the cursor, then returns how many it tried. */
  async processPending(): Promise<number> {
    let tried = 0;
    while (!this.stopped) {
      const page = await this.deps.index.previews.pendingAfter(this.cursor, PAGE);
      const last = page.at(-1);
      if (last === undefined) return tried;
      this.cursor = last.id;
      let next = 0;
      const lane = async () => {
        while (!this.stopped && next < page.length) {
          const item = page[next++];
          if (!item) continue;
          const started = performance.now();
          await this.makeOne(item);
          const done = performance.now();
          if (done - this.lastUploadAt < UPLOAD_RECENT_MS && !this.stopped) {
            const rest = Math.min(MAX_REST_MS, REST_FACTOR * (done - started));
            await sleep(rest, undefined, { signal: this.stopping.signal }).catch(() => undefined);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.concurrency, page.length) }, lane));
      tried += page.length;
    }
    return tried;
  }

  /**
   * Measures every photo whose preview was made before the vault measured them (a vault
   * older than migration 0011), from the preview file on disk. Returns how many it measured.
   * See [Note: Preview work is the index]: the index is the queue here too.
   */
  async backfillMeasures(): Promise<number> {
    const { index, blobs, files, logger, now } = this.deps;
    let cursor = 0;
    let measured = 0;
    while (!this.stopped) {
      const page = await index.similarity.unmeasuredAfter(cursor, PAGE);
      const last = page.at(-1);
      if (last === undefined) return measured;
      cursor = last.id;
      for (const item of page) {
        if (this.stopped) break;
        try {
          const measure = await measurePreview(
            await readFile(files.pathOf(item.sha256, 'preview')),
          );
          // through the one read function: the blob may be stored compressed by now
          const sized = await blobs.withPlainFile(item.sha256, this.deps.tempDir, pictureSize);
          const size = sized?.value ?? { width: null, height: null };
          if (await index.similarity.record(item.sha256, { ...measure, ...size }, now()))
            measured++;
        } catch (err) {
          if (this.stopped) return measured;
          logger.debug('a photo could not be measured; tried again at the next start', {
            sha256: item.sha256,
            error: String(err),
          });
        }
      }
    }
    return measured;
  }

  /** Starts over from the first asset (after a rebuild cleared the index's outcomes). */
  rewind(): void {
    this.cursor = 0;
  }

  /** This content's bytes were replaced (a repair): its previews are made again. */
  async remake(sha256: string): Promise<void> {
    await this.deps.index.previews.forget(sha256);
    this.rewind();
    this.notify();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    clearTimeout(this.retryTimer);
    this.wake?.();
    await this.loop;
    await this.deps.renderer.close();
  }

  private async run(): Promise<void> {
    await this.backfillMeasures();
    while (!this.stopped) {
      this.woken = false;
      await this.processPending();
      if (this.stopped) return;
      if (this.failed) this.scheduleRetry();
      if (!this.woken) await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  /** See [Note: Preview work is the index]: passing failures are tried again, later. */
  private scheduleRetry(): void {
    this.failed = false;
    if (this.retryTimer !== undefined) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.rewind();
      this.wakeUp();
    }, delay);
    this.retryTimer.unref();
  }

  private async makeOne(item: PendingPreview): Promise<void> {
    const { index, blobs, files, renderer, logger, now, tempDir } = this.deps;
    try {
      const rendered = await blobs.withPlainFile(item.sha256, tempDir, (path) =>
        renderer.render(path, item),
      );
      if (rendered === null) {
        // The content's health is the scrubber's business; an upload repairs it, and its
        // previews are made then (remake) or at the next retry.
        logger.warn('no preview made: the stored content is missing', { sha256: item.sha256 });
        this.failed = true;
        return;
      }
      const outcome = rendered.value;
      if ('made' in outcome) {
        await files.write(item.sha256, outcome.made);
        await index.previews.record(
          item.sha256,
          { state: 'made', source: outcome.made.source },
          now(),
        );
        const { measure, width, height } = outcome.made;
        if (measure !== undefined) {
          await index.similarity.record(
            item.sha256,
            { ...measure, width: width ?? null, height: height ?? null },
            now(),
          );
        }
        this.retryMs = RETRY_MIN_MS;
      } else {
        await files.remove(item.sha256);
        await index.previews.record(item.sha256, { state: 'none', reason: outcome.none }, now());
        logger.debug('no preview can be made', { sha256: item.sha256, reason: outcome.none });
      }
    } catch (err) {
      if (this.stopped) return; // the index may be closing under us
      this.failed = true;
      logger.warn('making a preview failed; it is tried again later', {
        sha256: item.sha256,
        error: String(err),
      });
    }
  }
}

/** The renderer `options` ask for: a tool left undefined is looked for on PATH. */
export async function rendererFor(options: PreviewOptions | undefined): Promise<PreviewRenderer> {
  if (options?.renderer !== undefined) return options.renderer;
  return createPreviewRenderer({
    ffmpegPath: options?.ffmpegPath === undefined ? await findFfmpeg() : options.ffmpegPath,
    heifDecoderPath:
      options?.heifDecoderPath === undefined ? await findHeifDecoder() : options.heifDecoderPath,
  });
}
