// Real Keepsake Vaults for tests: in-process (startTestVault) or as a child process running
// `keepsake vault` from source (spawnVaultProcess), for tests that kill it with SIGKILL.
// Every vault listens on 127.0.0.1 with an ephemeral port and a temp data directory.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { startVault, type RunningVault, type VaultOptions } from '../../server/vault.js';
import { makeTempDir, repoRoot } from './paths.js';

export type TestVault = RunningVault & { dataDir: string };

/**
 * A vault in this process on a fresh temp dir (unless opts.dataDir is given) and port 0.
 * close() stops it and removes the temp dir it made (a given dataDir is left alone).
 * Compression is off unless asked for (`compression: true`): many tests damage blob files
 * by their plain path, which the background compressor would otherwise move under them.
 */
export async function startTestVault(opts: Partial<VaultOptions> = {}): Promise<TestVault> {
  const temp = opts.dataDir === undefined ? await makeTempDir('keepsake-vault-') : undefined;
  const dataDir = opts.dataDir ?? temp!.dir;
  let vault: RunningVault;
  try {
    vault = await startVault({ port: 0, compression: false, ...opts, dataDir });
  } catch (err) {
    await temp?.cleanup();
    throw err;
  }
  return {
    ...vault,
    dataDir,
    close: async () => {
      try {
        await vault.close();
      } finally {
        await temp?.cleanup();
      }
    },
  };
}

export interface VaultProcessOptions {
  dataDir: string;
  /** default 0 (ephemeral) */
  port?: number;
  host?: string;
  token?: string;
  quotaBytes?: number;
  maxSizeBytes?: number;
  /** more `keepsake vault` arguments, as typed (e.g. ['--quota', '10G']) */
  extraArgs?: string[];
  /** extra environment */
  env?: NodeJS.ProcessEnv;
  /** how long to wait for "vault listening on", ms (default 30 s) */
  startTimeoutMs?: number;
}

export interface VaultProcess {
  url: string;
  token: string;
  child: ChildProcess;
  /** everything the process printed so far */
  output(): { stdout: string; stderr: string };
  /** SIGKILL, and resolves once the process is gone */
  kill9(): Promise<void>;
  /** SIGTERM, and resolves with the exit code once the process is gone */
  stop(): Promise<number | null>;
}

function waitForExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/**
 * Runs `node --import tsx main/cli/main.ts vault ...` and resolves once it prints
 * `vault listening on URL`. The token is opts.token, else KEEPSAKE_VAULT_TOKEN in opts.env, else
 * the one the vault printed on first start, else the one stored in the data directory.
 */
export async function spawnVaultProcess(opts: VaultProcessOptions): Promise<VaultProcess> {
  const args = ['--import', 'tsx', 'main/cli/main.ts', 'vault', '--data-dir', opts.dataDir];
  args.push('--port', String(opts.port ?? 0));
  if (opts.host !== undefined) args.push('--host', opts.host);
  if (opts.token !== undefined) args.push('--token', opts.token);
  if (opts.quotaBytes !== undefined) args.push('--quota', String(opts.quotaBytes));
  if (opts.maxSizeBytes !== undefined) args.push('--max-size', String(opts.maxSizeBytes));
  args.push(...(opts.extraArgs ?? []));
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const kill9 = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await waitForExit(child);
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `vault did not start within ${opts.startTimeoutMs ?? 30_000} ms:\n${stdout}\n${stderr}`,
            ),
          ),
        opts.startTimeoutMs ?? 30_000,
      );
      const onData = () => {
        const m = /vault listening on (https?:\/\/\S+)/.exec(stdout);
        if (m?.[1]) {
          clearTimeout(timer);
          child.stdout.off('data', onData);
          child.off('exit', onExit);
          resolve(m[1]);
        }
      };
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        reject(new Error(`vault exited with ${code} before listening:\n${stdout}\n${stderr}`));
      };
      child.stdout.on('data', onData);
      child.once('exit', onExit);
    });
    let token = opts.token ?? opts.env?.KEEPSAKE_VAULT_TOKEN ?? /token: (\S+)/.exec(stdout)?.[1];
    if (token === undefined) {
      token = (await readFile(`${opts.dataDir}/token`, 'utf8')).trim();
    }
    return {
      url,
      token,
      child,
      output: () => ({ stdout, stderr }),
      kill9,
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        return waitForExit(child);
      },
    };
  } catch (err) {
    await kill9();
    throw err;
  }
}

// ---- talking to a vault in tests -------------------------------------------------------

export interface VaultEndpoint {
  url: string;
  token: string;
}

/** fetch against the vault with its bearer token (unless headers say otherwise). */
export function vaultFetch(
  vault: VaultEndpoint,
  path: string,
  init: RequestInit & { headers?: Record<string, string> } = {},
): Promise<Response> {
  return fetch(new URL(path, vault.url), {
    ...init,
    headers: { Authorization: `Bearer ${vault.token}`, ...init.headers },
    signal: init.signal ?? AbortSignal.timeout(30_000),
  });
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The Upload-Metadata header value for these pairs (values base64, as tus 1.0 says). */
export function uploadMetadata(pairs: Record<string, string>): string {
  return Object.entries(pairs)
    .map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`)
    .join(',');
}

export const TUS = { 'Tus-Resumable': '1.0.0' } as const;

/** POST /files/ (creation); returns the response and the upload URL when created. */
export async function tusCreate(
  vault: VaultEndpoint,
  opts: {
    size: number;
    metadata?: Record<string, string>;
    body?: Buffer;
    headers?: Record<string, string>;
  },
): Promise<{ res: Response; location: string | null; text: string }> {
  const headers: Record<string, string> = {
    ...TUS,
    'Upload-Length': String(opts.size),
    ...(opts.metadata ? { 'Upload-Metadata': uploadMetadata(opts.metadata) } : {}),
    ...(opts.body ? { 'Content-Type': 'application/offset+octet-stream' } : {}),
    ...opts.headers,
  };
  const res = await vaultFetch(vault, '/files/', {
    method: 'POST',
    headers,
    ...(opts.body ? { body: opts.body } : {}),
  });
  const text = await res.text();
  return { res, location: res.headers.get('location'), text };
}

/** PATCH bytes at an offset; returns the response with its body read. */
export async function tusPatch(
  vault: VaultEndpoint,
  location: string,
  offset: number,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<{ res: Response; text: string }> {
  const res = await vaultFetch(vault, location, {
    method: 'PATCH',
    headers: {
      ...TUS,
      'Upload-Offset': String(offset),
      'Content-Type': 'application/offset+octet-stream',
      ...headers,
    },
    body,
  });
  return { res, text: await res.text() };
}

/** HEAD an upload: its status and Upload-Offset. */
export async function tusHead(
  vault: VaultEndpoint,
  location: string,
): Promise<{ status: number; offset: number | null; res: Response }> {
  const res = await vaultFetch(vault, location, { method: 'HEAD', headers: { ...TUS } });
  const offset = res.headers.get('upload-offset');
  return { status: res.status, offset: offset === null ? null : Number(offset), res };
}

/** Uploads a whole buffer in one creation-with-upload request; returns the response. */
export async function uploadBuffer(
  vault: VaultEndpoint,
  data: Buffer,
  metadata: Record<string, string> = {},
): Promise<{ res: Response; text: string; sha256: string }> {
  const sha256 = sha256Hex(data);
  const { res, text } = await tusCreate(vault, {
    size: data.length,
    metadata: { filename: 'file.bin', sha256, ...metadata },
    body: data,
  });
  return { res, text, sha256 };
}

export interface VaultSnapshot {
  usage: unknown;
  assets: unknown[];
  /** relative path -> size, for every file under uploads/, upload-state/ and blobs/ */
  files: Record<string, number>;
}

/**
 * A tool's temporary plain copy in uploads/ (BlobStore.withPlainFile: a preview being made
 * from a compressed blob or an S3 object): it comes and goes with background work, not state.
 */
export function isToolTempFile(name: string): boolean {
  return /^plain-[0-9a-f]+\.tmp$/.test(name);
}

/** What uploads/ holds besides tools' temporary copies: partials, their info, batch temps. */
export async function uploadsLeft(dataDir: string): Promise<string[]> {
  return (await readdir(join(dataDir, 'uploads'))).filter((n) => !isToolTempFile(n));
}

/**
 * Everything a client or the disk can observe about a vault: usage, the full asset listing
 * (with metadata), and the files under its data directory. Two equal snapshots mean a
 * request changed nothing.
 */
export async function snapshotVault(
  vault: VaultEndpoint & { dataDir: string },
): Promise<VaultSnapshot> {
  const usage = await (await vaultFetch(vault, '/api/v1/usage')).json();
  const assets: unknown[] = [];
  let after = '';
  for (;;) {
    const page = (await (
      await vaultFetch(vault, `/api/v1/assets?limit=1000${after ? `&after=${after}` : ''}`)
    ).json()) as { assets: unknown[]; next: string | null };
    assets.push(...page.assets);
    if (page.next === null) break;
    after = page.next;
  }
  const files: Record<string, number> = {};
  for (const sub of ['uploads', 'upload-state', 'blobs']) {
    const root = join(vault.dataDir, sub);
    for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
      if (e.isFile() && !(sub === 'uploads' && isToolTempFile(e.name))) {
        const p = join(e.parentPath, e.name);
        files[relative(vault.dataDir, p)] = (await stat(p)).size;
      }
    }
  }
  return { usage, assets, files };
}

// ---- batches (POST /api/v1/batch) -------------------------------------------------------

export interface BatchFile {
  data: Buffer;
  filename: string;
  /** default: the SHA-256 of data */
  sha256?: string;
  mime?: string;
  relpath?: string;
  mtimeMs?: number;
  /** extra or overriding header fields, e.g. to send an invalid one */
  header?: Record<string, unknown>;
}

/** A batch request body: for each file a JSON header line, then its bytes. */
export function batchBody(files: readonly BatchFile[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const header = {
      sha256: f.sha256 ?? sha256Hex(f.data),
      size: f.data.length,
      filename: f.filename,
      ...(f.mime === undefined ? {} : { mime: f.mime }),
      ...(f.relpath === undefined ? {} : { relpath: f.relpath }),
      ...(f.mtimeMs === undefined ? {} : { mtimeMs: f.mtimeMs }),
      ...f.header,
    };
    parts.push(Buffer.from(`${JSON.stringify(header)}\n`), f.data);
  }
  return Buffer.concat(parts);
}

/** POST /api/v1/batch with these files; returns the status and the parsed JSON body. */
export async function postBatch(
  vault: VaultEndpoint,
  files: readonly BatchFile[],
  opts: { body?: Buffer; count?: number; signal?: AbortSignal } = {},
): Promise<{ status: number; json: unknown }> {
  const res = await vaultFetch(vault, '/api/v1/batch', {
    method: 'POST',
    headers: {
      'Content-Type': 'application/vnd.keepsake.batch',
      'Keepsake-Batch-Count': String(opts.count ?? files.length),
    },
    body: opts.body ?? batchBody(files),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: the text itself
  }
  return { status: res.status, json };
}
