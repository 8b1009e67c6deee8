// An S3-compatible server on loopback for tests: s3rver (from the npm registry; no MinIO or Ceph
// binary can be had here), storing in a fresh temp directory, with one bucket made. It speaks
// path-style S3 with SigV4 and knows one access key, which `env` gives for the SDK's provider
// chain (it refuses other keys, but does not check a V4 signature's secret). It lacks ListParts and AbortMultipartUpload, which the
// vault does not call (see server/blobs/s3-objects.ts).
//
// [Note: An S3 PUT is all or nothing]
// S3 never shows part of an object: a PUT that fails or is cut leaves the object as it was,
// and of two PUTs of one key the last complete one wins whole. s3rver writes a PUT straight
// into its object's file (opened with truncation), so a vault killed mid-PUT of content the
// bucket already held left that object cut short, and a reader meanwhile saw it shorter: a
// failure of the test server, not of the vault (vault-crash found it on the S3 pair). So the
// harness stores a PUT the way S3 promises: into a temp file beside the object, renamed over it
// only once the whole declared body arrived. The vault's own promise ("verified before
// visible", server/blobs/s3-blob-store.ts) relies on S3's, which the contract test checks
// against a real bucket (KEEPSAKE_S3_CONTRACT_URL).
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import S3rver from 's3rver';
import { makeTempDir } from './paths.js';

/** What s3rver's filesystem store hands its putObject (lib/models/object.js). */
interface S3rverObject {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: Record<string, string>;
  /** the declared Content-Length */
  readonly size: number;
}

/** The part of s3rver's filesystem store (lib/stores/filesystem.js) replaced here. */
interface S3rverFilesystemStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(
    bucket: string,
    key: string,
    metadata: Record<string, string>,
    md5: string,
  ): Promise<void>;
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
}

async function putObjectWhole(
  this: S3rverFilesystemStore,
  object: S3rverObject,
): Promise<{ size: number; md5: string }> {
  const path = this.getResourcePath(object.bucket, object.key, 'object');
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${randomBytes(6).toString('hex')}.part`;
  const md5 = createHash('md5');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      md5.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  const body = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
  try {
    await pipeline(body, count, createWriteStream(temp));
    // A PUT's body is the request, whose Content-Length it must fill (a multipart upload's
    // completion hands parts already stored, with the initiating request's headers).
    const declared = object.content instanceof IncomingMessage ? object.size : Number.NaN;
    if (Number.isFinite(declared) && declared !== size) {
      throw new Error(`the body ended after ${size} of ${declared} bytes`);
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  const digest = md5.digest('hex');
  await this.putMetadata(object.bucket, object.key, object.metadata, digest);
  return { size, md5: digest };
}

// s3rver is CommonJS: its store module is one instance, shared with the server it starts.
const filesystemStore = createRequire(import.meta.url)('s3rver/lib/stores/filesystem.js') as {
  prototype: S3rverFilesystemStore;
};
filesystemStore.prototype.putObject = putObjectWhole;

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
