// An S3-compatible server on loopback for tests: s3rver (from the npm registry; no MinIO or Ceph
// binary can be had here), storing in a fresh temp directory, with one bucket made. It speaks
// path-style S3 with SigV4 and knows one access key, which `env` gives for the SDK's provider
// chain (it refuses other keys, but does not check a V4 signature's secret). It lacks ListParts and AbortMultipartUpload, which the
// vault does not call (see server/blobs/s3-objects.ts).
import S3rver from 's3rver';
import { makeTempDir } from './paths.js';

/** s3rver's one accepted key pair. */
const ACCESS_KEY = 'S3RVER';
const SECRET_KEY = 'S3RVER';

export interface TestS3Server {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  bucket: string;
  /** The vault's --blobs address for `prefix` in this server's bucket. */
  locationOf(prefix: string): string;
  /** The AWS variables that make the SDK sign as this server expects. */
  env: Record<string, string>;
  /** The directory s3rver keeps objects in (to damage one on purpose). */
  dir: string;
  close(): Promise<void>;
}

export async function startTestS3Server(bucket = 'keepsake-test'): Promise<TestS3Server> {
  const temp = await makeTempDir('keepsake-s3-');
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: temp.dir,
    vhostBuckets: false,
    configureBuckets: [{ name: bucket }],
  });
  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  return {
    endpoint,
    bucket,
    locationOf: (prefix) =>
      `s3://${bucket}/${prefix}?endpoint=${encodeURIComponent(endpoint)}&region=us-east-1`,
    env: { AWS_ACCESS_KEY_ID: ACCESS_KEY, AWS_SECRET_ACCESS_KEY: SECRET_KEY },
    dir: temp.dir,
    close: async () => {
      await server.close();
      await temp.cleanup();
    },
  };
}
