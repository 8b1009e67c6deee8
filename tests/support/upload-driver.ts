// A child process for kill -9 tests and the resume-waste benchmark: uploads one file with
// Keepsake's uploader and persists what the queue would (the upload URL and each confirmed
// offset) to a JSON state file, fsynced before the callback returns, the way the engine's
// SQLite commit is durable before it goes on. On start it resumes from that state.
//
// Usage: node --import tsx tests/support/upload-driver.ts '<json DriverArgs>'
// Prints one JSON line per event: {"created":url} {"offset":n} {"done":sha256} {"error":{...}}
import { serializeError } from '../../main/engine/errors.js';
import { silentLogger, systemClock } from '../../main/engine/ports.js';
import { createTusUploader } from '../../main/engine/vault/tus-uploader.js';
import type { UploadJob } from '../../main/engine/vault/types.js';
import { readDriverState, writeDriverState } from './driver-state.js';

export interface DriverArgs {
  endpoint: string;
  token: string | null;
  chunkSizeBytes: number;
  statePath: string;
  job: Omit<UploadJob, 'resume'>;
  bytesPerSecond?: number | null;
}

const say = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as DriverArgs;
  const state = readDriverState(args.statePath);
  const uploader = createTusUploader({
    endpoint: args.endpoint,
    token: args.token,
    chunkSizeBytes: args.chunkSizeBytes,
    bandwidth: { kind: 'fixed', bytesPerSecond: args.bytesPerSecond ?? null },
    logger: silentLogger,
    clock: systemClock,
    retryBaseDelayMs: 50,
  });
  const job: UploadJob = {
    ...args.job,
    resume: state.uploadUrl ? { uploadUrl: state.uploadUrl, offset: state.offset } : null,
  };
  try {
    const result = await uploader.upload(
      job,
      {
        onCreated(url) {
          state.uploadUrl = url;
          state.offset = 0;
          writeDriverState(args.statePath, state);
          say({ created: url });
        },
        onOffset(offset) {
          state.offset = offset;
          writeDriverState(args.statePath, state);
          say({ offset });
        },
        onProgress() {},
      },
      new AbortController().signal,
    );
    state.done = true;
    writeDriverState(args.statePath, state);
    say({ done: result.sha256, uploadUrl: result.uploadUrl });
  } catch (err) {
    say({ error: serializeError(err) });
    process.exitCode = 1;
  } finally {
    await uploader.close();
  }
}

await main();
