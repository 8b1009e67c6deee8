// The vault's two backend pairs for tests that run over both (issue 14): the single machine's
// (the filesystem under the data directory, and the SQLite index there) and the scaled one's
// (an S3 bucket on a real S3-compatible server on loopback, s3rver in
// tests/support/s3-server.ts, and a real PostgreSQL index, tests/support/postgres.ts). A test
// asks each backend for a setup, starts its vaults with `setup.vaultOptions` (and the CLI
// with `setup.cliArgs`), and damages, removes or counts stored content through the setup,
// behind the vault's back.
import { createHash } from 'node:crypto';
import { readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseS3Location } from '../../server/blobs/s3-location.js';
import { S3Objects } from '../../server/blobs/s3-objects.js';
import { openSqlDatabase } from '../../server/index/open-sql.js';
import type { SqlDatabase } from '../../server/index/sql.js';
import { VaultIndex } from '../../server/index/vault-index.js';
import { makeTempDir } from './paths.js';
import { startTestPostgres } from './postgres.js';
import { startTestS3Server } from './s3-server.js';
import { blobPath, flipByte, storedContent } from './vault-damage.js';

export interface BlobBackendSetup {
  /** spread into startTestVault's options (the scaled one sets `blobs` and `index`) */
  readonly vaultOptions: { blobs?: string; index?: string };
  /** for `keepsake vault …` commands: [] or ['--blobs', address, '--index', url] */
  readonly cliArgs: string[];
  /** how many contents are stored */
  count(dataDir: string): Promise<number>;
  /** the names stored content is under (a SHA-256 each, unless something is half-written) */
  names(dataDir: string): Promise<string[]>;
  /** the stored bytes of a content (decoded), or null */
  stored(dataDir: string, sha256: string): Promise<Buffer | null>;
  /** flips the byte at `at` of a stored content (same size, other bytes) */
  damage(dataDir: string, sha256: string, at: number): Promise<void>;
  /** removes a stored content */
  remove(dataDir: string, sha256: string): Promise<void>;
  /**
   * Options for one more, separate vault on the same servers (a database and a bucket prefix
   * of its own), for a file that starts vaults that must not share an index.
   */
  freshVaultOptions(): Promise<{ blobs?: string; index?: string }>;
  /** The index of the vault on `dataDir` (with these options), opened beside it; close it. */
  openIndex(dataDir: string, vaultOptions?: { index?: string }): Promise<VaultIndex>;
  /**
   * The index's database itself, for a test that reads or changes rows behind the vault's
   * back (statements in the dialect both engines share); close it.
   */
  openSql(dataDir: string, vaultOptions?: { index?: string }): Promise<SqlDatabase>;
  close(): Promise<void>;
}

export interface BlobBackend {
  /** as test names show it: 'filesystem' (and SQLite), 's3' (and PostgreSQL) */
  readonly name: 'filesystem' | 's3';
  /** for test names: which blobs and which index */
  readonly label: string;
  setUp(): Promise<BlobBackendSetup>;
}

/** The `keepsake vault …` arguments for these vault options (as cliArgs is for the setup's). */
export function cliArgsFor(options: { blobs?: string; index?: string }): string[] {
  return [
    ...(options.blobs === undefined ? [] : ['--blobs', options.blobs]),
    ...(options.index === undefined ? [] : ['--index', options.index]),
  ];
}

/** Both backend pairs, the single machine's first. */
export function blobBackends(): BlobBackend[] {
  return [
    {
      name: 'filesystem',
      label: 'filesystem blobs, SQLite index',
      setUp: () => Promise.resolve(filesystemSetup()),
    },
    { name: 's3', label: 'S3 blobs, PostgreSQL index', setUp: s3Setup },
  ];
}

function filesystemSetup(): BlobBackendSetup {
  return {
    vaultOptions: {},
    cliArgs: [],
    count: async (dataDir) => {
      const entries = await readdir(join(dataDir, 'blobs'), {
        recursive: true,
        withFileTypes: true,
      });
      return entries.filter((e) => e.isFile()).length;
    },
    names: async (dataDir) => {
      const entries = await readdir(join(dataDir, 'blobs'), {
        recursive: true,
        withFileTypes: true,
      });
      return entries.filter((e) => e.isFile()).map((e) => e.name);
    },
    stored: storedContent,
    damage: (dataDir, sha256, at) => flipByte(blobPath(dataDir, sha256), at),
    remove: (dataDir, sha256) => unlink(blobPath(dataDir, sha256)),
    freshVaultOptions: () => Promise.resolve({}),
    openIndex: (dataDir) => VaultIndex.open(join(dataDir, 'vault.db')),
    openSql: (dataDir) => openSqlDatabase(join(dataDir, 'vault.db')),
    close: () => Promise.resolve(),
  };
}

/**
 * A bucket and a PostgreSQL database of their own. The AWS variables s3rver expects are set
 * for this process (and its children) until close.
 */
async function s3Setup(): Promise<BlobBackendSetup> {
  const postgres = await startTestPostgres();
  const indexUrl = await postgres.createDatabase();
  const server = await startTestS3Server();
  const temp = await makeTempDir('keepsake-s3-damage-');
  const saved = Object.fromEntries(Object.keys(server.env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, server.env);
  const newAddress = () => server.locationOf(`vault-${Math.random().toString(36).slice(2, 10)}`);
  const address = newAddress();
  const objects = new S3Objects(parseS3Location(address));
  const nameOf = (sha256: string) => `blobs/${sha256}`;
  const bytesOf = async (sha256: string): Promise<Buffer | null> => {
    const body = await objects.read(nameOf(sha256));
    if (body === null) return null;
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };
  return {
    vaultOptions: { blobs: address, index: indexUrl },
    cliArgs: ['--blobs', address, '--index', indexUrl],
    count: async () => {
      let n = 0;
      for await (const _ of objects.list('blobs/')) n++;
      return n;
    },
    names: async () => {
      const names: string[] = [];
      for await (const o of objects.list('blobs/')) names.push(o.name.slice('blobs/'.length));
      return names;
    },
    stored: (_dataDir, sha256) => bytesOf(sha256),
    damage: async (_dataDir, sha256, at) => {
      const bytes = await bytesOf(sha256);
      if (bytes === null) throw new Error(`no object for ${sha256}`);
      bytes[at] = bytes[at]! ^ 0xff;
      const path = join(temp.dir, `damaged-${sha256}`);
      await writeFile(path, bytes);
      // Put through the S3 API like any writer would: the bucket holds other bytes now.
      await objects.putFile(nameOf(sha256), path, createHash('sha256').update(bytes).digest('hex'));
    },
    remove: (_dataDir, sha256) => objects.delete(nameOf(sha256)),
    freshVaultOptions: async () => ({
      blobs: newAddress(),
      index: await postgres.createDatabase(),
    }),
    openIndex: (_dataDir, vaultOptions) => VaultIndex.open(vaultOptions?.index ?? indexUrl),
    openSql: (_dataDir, vaultOptions) => openSqlDatabase(vaultOptions?.index ?? indexUrl),
    close: async () => {
      objects.close();
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await server.close();
      await postgres.close();
      await temp.cleanup();
    },
  };
}
