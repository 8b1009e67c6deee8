// tus-js-client as a child process, for the resume-waste benchmark's baseline: the same job
// as upload-driver.ts (upload one file, persist the upload URL with fsync, resume from it
// after kill -9), done by the tus project's own client.
//
// Usage: node --import tsx tests/support/tus-js-driver.ts '<json DriverArgs>'
import { createReadStream } from 'node:fs';
import { Upload } from 'tus-js-client';
import { readDriverState, writeDriverState } from './driver-state.js';
import type { DriverArgs } from './upload-driver.js';

const args = JSON.parse(process.argv[2] ?? '{}') as DriverArgs;
const state = readDriverState(args.statePath);
await new Promise<void>((resolve) => {
  const upload = new Upload(createReadStream(args.job.path), {
    endpoint: `${args.endpoint}/files/`,
    ...(state.uploadUrl ? { uploadUrl: state.uploadUrl } : {}),
    uploadSize: args.job.size,
    chunkSize: args.chunkSizeBytes,
    headers: args.token ? { Authorization: `Bearer ${args.token}` } : {},
    metadata: {
      filename: args.job.filename,
      ...(args.job.sha256 ? { sha256: args.job.sha256 } : {}),
      ...(args.job.mime ? { mime: args.job.mime } : {}),
    },
    retryDelays: [0, 100, 500, 1000],
    storeFingerprintForResuming: false,
    onUploadUrlAvailable: () => {
      state.uploadUrl = upload.url;
      writeDriverState(args.statePath, state);
    },
    onChunkComplete: (_size, accepted) => {
      state.offset = accepted;
      writeDriverState(args.statePath, state);
    },
    onError: (err) => {
      process.stdout.write(`${JSON.stringify({ error: String(err) })}\n`);
      process.exitCode = 1;
      resolve();
    },
    onSuccess: () => {
      state.done = true;
      writeDriverState(args.statePath, state);
      process.stdout.write(`${JSON.stringify({ done: args.job.sha256 })}\n`);
      resolve();
    },
  });
  upload.start();
});
