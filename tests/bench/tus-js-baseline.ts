// The tus project's own client, as the baseline the vault and upload benchmarks compare with.
import { createReadStream } from 'node:fs';
import { Upload } from 'tus-js-client';

export interface BenchFile {
  path: string;
  name: string;
  size: number;
  sha256: string;
}

/** Uploads one file with tus-js-client; no retries, so a failure fails the benchmark. */
export function tusJsUpload(
  file: BenchFile,
  url: string,
  token: string,
  chunkSizeBytes?: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const u = new Upload(createReadStream(file.path), {
      endpoint: `${url}/files/`,
      uploadSize: file.size,
      ...(chunkSizeBytes ? { chunkSize: chunkSizeBytes } : {}),
      headers: { Authorization: `Bearer ${token}` },
      metadata: { filename: file.name, sha256: file.sha256, mime: 'application/octet-stream' },
      retryDelays: [],
      storeFingerprintForResuming: false,
      onError: reject,
      onSuccess: () => resolve(),
    });
    u.start();
  });
}
