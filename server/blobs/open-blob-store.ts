// Which blob store a vault uses, from its --blobs option: nothing (blobs/ in the data
// directory, the default), an s3:// address (server/blobs/s3-location.ts), or another local
// directory. The one place that chooses an implementation of the port (./port.ts).
import { join, resolve } from 'node:path';
import { FsBlobStore } from '../blob-store.js';
import { VaultStartError } from '../start-error.js';
import type { BlobRepairs, BlobStore } from './port.js';
import { S3BlobStore } from './s3-blob-store.js';
import { parseS3Location, S3LocationError } from './s3-location.js';
import { S3Objects } from './s3-objects.js';

/** The store `blobs` names (undefined: `<dataDir>/blobs`), not yet initialised. */
export function openBlobStore(
  blobs: string | undefined,
  dataDir: string,
  repairs?: BlobRepairs,
): BlobStore {
  if (blobs === undefined) return new FsBlobStore(join(dataDir, 'blobs'), repairs);
  if (blobs.startsWith('s3:')) {
    try {
      return new S3BlobStore(new S3Objects(parseS3Location(blobs)), repairs);
    } catch (err) {
      if (err instanceof S3LocationError) {
        throw new VaultStartError('invalid_option', `--blobs: ${err.message}`);
      }
      throw err;
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(blobs)) {
    throw new VaultStartError(
      'invalid_option',
      `--blobs "${blobs}": the vault stores blobs in a directory or at an s3:// address`,
    );
  }
  return new FsBlobStore(resolve(blobs), repairs);
}
