// tus-js-client as a child process, for the resume-waste benchmark's baseline: the same job
// as upload-driver.ts (upload one file, persist the upload URL with fsync, resume from it
// after kill -9), done by the tus project's own client.
//
// Usage: node --import tsx tests/support/tus-js-driver.ts '<json DriverArgs>'
import {
  closeSync,
  createReadStream,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { Upload } from 'tus-js-client';
import type { DriverArgs, DriverState } from './upload-driver.js';

function readState(path: string): DriverState {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as DriverState;
  } catch {
    return { uploadUrl: null, offset: 0, done: false };
  }
}

function writeState(path: string, state: DriverState): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, JSON.stringify(state));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

const args = JSON.parse(process.argv[2] ?? '{}') as DriverArgs;
const state = readState(args.statePath);
await new Promise<void>((resolve) => {
  const upload = new Upload(createReadStream(args.job.path), {
    endpoint: `${args.endpoint}/files/`,
    ...(state.uploadUrl ? { uploadUrl: state.uploadUrl } : {}),
    uploadSize: args.job.size,
    chunkSize: args.chunkSizeBytes,
    headers: args.token ? { Authorization: `Bearer ${args.token}` } : {},
    metadata: {
      filename: args.job.filename,
      sha256: args.job.sha256,
      ...(args.job.mime ? { mime: args.job.mime } : {}),
    },
    retryDelays: [0, 100, 500, 1000],
    storeFingerprintForResuming: false,
    onUploadUrlAvailable: () => {
      state.uploadUrl = upload.url;
      writeState(args.statePath, state);
    },
    onChunkComplete: (_size, accepted) => {
      state.offset = accepted;
      writeState(args.statePath, state);
    },
    onError: (err) => {
      process.stdout.write(`${JSON.stringify({ error: String(err) })}\n`);
      process.exitCode = 1;
      resolve();
    },
    onSuccess: () => {
      state.done = true;
      writeState(args.statePath, state);
      process.stdout.write(`${JSON.stringify({ done: args.job.sha256 })}\n`);
      resolve();
    },
  });
  upload.start();
});
