// SHA-256 of an upload's bytes, computed as they arrive (See [Note: Hashing as bytes
// arrive]). The hash state is checkpointed beside the partial after every PATCH, tagged with
// the offset it covers; a resumed upload continues from it. Invariant: a checkpoint is used
// only when its offset equals the partial's size, so the digest always covers exactly the
// bytes on disk; anything else (a crash mid-PATCH, a torn state file) rebuilds the state by
// reading the partial.
//
// [Note: Hashing as bytes arrive]
// The vault must hash the bytes it stored, and reading a finished 1 GiB file a second time
// costs a full pass over the disk. Instead every byte is fed to the hasher just before it is
// handed to the file's write stream, and the write is checked afterwards: when the file's
// size equals the number of bytes hashed, the stored bytes and the hashed bytes are the
// same bytes (one process wrote them, in order, with nothing else writing the partial). If
// the sizes differ (a write failed), the checkpoint is dropped and the next use rehashes the
// file. hash-wasm is used rather than node:crypto because its state can be saved and loaded,
// which node:crypto's cannot.
import { createReadStream, readFileSync } from 'node:fs';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSHA256, type IHasher } from 'hash-wasm';

// [Note: Checkpoints and power loss]
// A checkpoint claims "the partial's first N bytes hash to this state". After a kill -9 the
// page cache survives, so the partial still holds exactly what was written and the claim
// holds. After a power loss, bytes that were never fsynced may be gone, or (on some
// filesystems) read back as zeros under a size that survived. So a checkpoint records the
// boot it was written in (Linux: /proc/sys/kernel/random/boot_id) and is trusted only in
// that same boot; after a reboot the partial is reread (the hash then covers exactly what
// is on disk, and a loss shows up as a 460, never as a wrong blob). Where no boot id is
// available, every PATCH fsyncs the partial before its checkpoint instead. Either way the
// partial is fsynced before it becomes a blob (See [Note: Commit order] in blob-store.ts).

interface Checkpoint {
  /** bytes covered by the state */
  offset: number;
  /** hash-wasm saved state, base64 */
  state: string;
  /** the boot the checkpoint was written in; see [Note: Checkpoints and power loss] */
  boot: string | null;
}

function readBootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
  } catch {
    return null;
  }
}

export class UploadHashes {
  /** Count of resumes that had to reread the partial (no usable checkpoint). */
  rebuilds = 0;
  private readonly boot: string | null;

  constructor(
    private readonly dir: string,
    boot: string | null = readBootId(),
  ) {
    this.boot = boot;
  }

  /** True when the writer must fsync a partial before each checkpoint (no boot id here). */
  get needsDurableCheckpoints(): boolean {
    return this.boot === null;
  }

  private pathOf(uploadId: string): string {
    return join(this.dir, `${uploadId}.sha256state`);
  }

  /** A hasher positioned at `offset` bytes of the partial at `partialPath`. */
  async resumeAt(uploadId: string, offset: number, partialPath: string): Promise<IHasher> {
    const hasher = await createSHA256();
    hasher.init();
    if (offset === 0) return hasher;
    const saved = await this.readCheckpoint(uploadId);
    if (saved && saved.offset === offset && saved.boot === this.boot) {
      try {
        hasher.load(Buffer.from(saved.state, 'base64'));
        return hasher;
      } catch {
        hasher.init(); // a state from another hash-wasm version: rebuild below
      }
    }
    this.rebuilds += 1;
    await new Promise<void>((resolve, reject) => {
      const stream = createReadStream(partialPath, {
        start: 0,
        end: offset - 1,
        highWaterMark: 1 << 20,
      });
      let read = 0;
      stream.on('data', (chunk) => {
        const buf = chunk as Buffer;
        read += buf.length;
        hasher.update(buf);
      });
      stream.on('error', reject);
      stream.on('end', () => {
        if (read === offset) resolve();
        else reject(new Error(`partial ${uploadId} holds ${read} bytes, expected ${offset}`));
      });
    });
    return hasher;
  }

  async checkpoint(uploadId: string, hasher: IHasher, offset: number): Promise<void> {
    const body: Checkpoint = {
      offset,
      state: Buffer.from(hasher.save()).toString('base64'),
      boot: this.boot,
    };
    const path = this.pathOf(uploadId);
    // Written whole then renamed: a reader sees the old checkpoint or the new one.
    await writeFile(`${path}.tmp`, JSON.stringify(body));
    await rename(`${path}.tmp`, path);
  }

  async discard(uploadId: string): Promise<void> {
    for (const p of [this.pathOf(uploadId), `${this.pathOf(uploadId)}.tmp`]) {
      await unlink(p).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
  }

  /** The SHA-256 (lowercase hex) of the partial's first `size` bytes. */
  async digest(uploadId: string, size: number, partialPath: string): Promise<string> {
    const hasher = await this.resumeAt(uploadId, size, partialPath);
    return hasher.digest('hex');
  }

  private async readCheckpoint(uploadId: string): Promise<Checkpoint | undefined> {
    try {
      const parsed = JSON.parse(
        await readFile(this.pathOf(uploadId), 'utf8'),
      ) as Partial<Checkpoint>;
      if (typeof parsed.offset === 'number' && typeof parsed.state === 'string') {
        return { offset: parsed.offset, state: parsed.state, boot: parsed.boot ?? null };
      }
    } catch {
      // missing or torn: rebuild
    }
    return undefined;
  }
}
