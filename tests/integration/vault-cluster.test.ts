// Three vault nodes on loopback sharing one PostgreSQL index, one S3 bucket (s3rver) and one
// partial-uploads directory, behind a round-robin proxy that hands each request to the next
// node (issue 14): what an organisation runs behind its load balancer. Real engines
// throughout: `keepsake backup` and the engine's tus uploader as clients, real processes as
// nodes, a real SIGKILL.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { silentLogger, systemClock } from '../../main/engine/ports.js';
import { createTusUploader } from '../../main/engine/vault/tus-uploader.js';
import type { UploadJob } from '../../main/engine/vault/types.js';
import { describeRun, parseJsonOutput, runCli, VaultReader } from '../support/cli.js';
import { makeTempDir } from '../support/paths.js';
import type { ServedRequest } from '../support/round-robin-proxy.js';
import { copyCorpusFiles, standardSample, writeTreeFile } from '../support/tree.js';
import { jobFor, randomFile, recordingCallbacks } from '../support/upload-fixtures.js';
import {
  clusterUnsupportedReason,
  startVaultCluster,
  type VaultCluster,
} from '../support/vault-cluster.js';
import { sha256Hex, tusCreate, tusPatch } from '../support/vault.js';

const MiB = 1024 * 1024;
/** Extensions `keepsake backup` uploads from the standard sample (sidecars and JSON aside). */
const MEDIA = /\.(jpe?g|heic|mov|mp4|png|tif|gif|cr2|nef|dng)$/i;

function uploaderFor(url: string, token: string, chunkSizeBytes: number) {
  return createTusUploader({
    endpoint: url,
    token,
    chunkSizeBytes,
    logger: silentLogger,
    clock: systemClock,
    // A node killed mid-request answers 502 through the proxy; retry soon, as often as needed.
    retryBaseDelayMs: 100,
    retryMaxDelayMs: 1000,
    maxNetworkRetries: 20,
    idleTimeoutMs: 60_000,
  });
}

/** The nodes that served requests for one upload (by its path), in order. */
function nodesServing(cluster: VaultCluster, uploadUrl: string, method?: string): number[] {
  const path = new URL(uploadUrl).pathname;
  return cluster.proxy.served
    .filter((s) => s.path === path && (method === undefined || s.method === method))
    .map((s) => s.backend);
}

describe('three vault nodes behind a round-robin proxy', () => {
  let skipReason: string | null = null;
  let cluster: VaultCluster | undefined;
  let work: { dir: string; cleanup: () => Promise<void> } | undefined;
  /** every content a test saw acknowledged, to check the store against at the end */
  const acknowledged = new Set<string>();

  before(async () => {
    skipReason = clusterUnsupportedReason();
    if (skipReason !== null) return;
    work = await makeTempDir('keepsake-cluster-test-');
    cluster = await startVaultCluster({ nodes: 3 });
  });
  after(async () => {
    await cluster?.close();
    await work?.cleanup();
  });

  it('uploads from several clients at once all finish, whichever node serves each request', async (t) => {
    if (skipReason !== null || !cluster || !work) return t.skip(skipReason ?? 'no cluster');
    const c = cluster;
    const dir = work.dir;

    // Two `keepsake backup` runs, each its own computer (data dir), on corpus folders with a
    // generated large file each (several PATCHes), and three engine uploaders with large files.
    const backups = [0, 1].map(async (k) => {
      const src = join(dir, `computer-${k}`);
      const files = await copyCorpusFiles(
        src,
        standardSample.filter((_, i) => i % 2 === k),
      );
      files.push(await writeTreeFile(src, `video/large-${k}.mov`, randomBytes(6 * MiB + k)));
      const run = await runCli(
        ['backup', src, '--to', c.url, '--token', c.token, '--data-dir', join(dir, `client-${k}`), '--json', '--chunk-size', '1M'],
        { timeoutMs: 300_000 },
      ); // prettier-ignore
      return { run, files };
    });
    const uploads = [0, 1, 2].map(async (k) => {
      const uploader = uploaderFor(c.url, c.token, 512 * 1024);
      try {
        const results: { uploadUrl: string; sha256: string }[] = [];
        for (let f = 0; f < 2; f++) {
          const path = await randomFile(join(dir, `gen-${k}-${f}.bin`), 3 * MiB + k * 1000 + f);
          const job: UploadJob = await jobFor(path);
          const result = await uploader.upload(
            job,
            recordingCallbacks(),
            AbortSignal.timeout(240_000),
          );
          assert.equal(result.sha256, job.sha256);
          results.push(result);
        }
        return results;
      } finally {
        await uploader.close();
      }
    });

    const reader = new VaultReader(c.url, c.token);
    for (const { run, files } of await Promise.all(backups)) {
      assert.equal(run.code, 0, describeRun(run));
      const summary = parseJsonOutput<{ failed: number; backedUp: number }>(run);
      assert.equal(summary.failed, 0, describeRun(run));
      const media = files.filter((f) => MEDIA.test(f.relPath));
      const held = await reader.check(media.map((f) => f.sha256));
      for (const f of media) {
        assert.ok(held.has(f.sha256), `${f.relPath} backed up through the cluster is held`);
        acknowledged.add(f.sha256);
      }
    }
    const results = (await Promise.all(uploads)).flat();
    const held = await reader.check(results.map((r) => r.sha256));
    for (const r of results) {
      assert.ok(held.has(r.sha256), `upload ${r.sha256} is held`);
      acknowledged.add(r.sha256);
    }
    // Every node took part, and uploads really moved between nodes mid-way.
    assert.ok(
      c.proxy.countsByBackend().every((n) => n > 0),
      `${c.proxy.countsByBackend().join(',')}`,
    );
    const spread = results.filter((r) => new Set(nodesServing(c, r.uploadUrl)).size > 1);
    assert.ok(spread.length > 0, 'some upload was continued by a node other than its creator');
    t.diagnostic(
      `requests per node ${c.proxy.countsByBackend().join('/')}; ${spread.length} of ${results.length} engine uploads served by more than one node`,
    );
  });

  it('the same content uploaded through two nodes at once is stored once, and both are told it is stored', async (t) => {
    if (skipReason !== null || !cluster) return t.skip(skipReason ?? 'no cluster');
    const c = cluster;
    const data = randomBytes(5 * MiB + 3);
    const sha256 = sha256Hex(data);
    const [a, b] = [c.nodes[0]!, c.nodes[1]!].map((n) => ({ url: n.url, token: c.token }));
    // Both uploads created and filled but for their last byte, each on its own node; then
    // both last bytes at once, so both nodes verify and commit the same content together.
    const created = await Promise.all(
      [a!, b!].map((node, i) =>
        tusCreate(node, { size: data.length, metadata: { filename: `twin-${i}.bin`, sha256 } }),
      ),
    );
    const locations = created.map((cr) => {
      assert.equal(cr.res.status, 201, cr.text);
      return new URL(cr.location!).pathname;
    });
    const head = data.subarray(0, data.length - 1);
    const filled = await Promise.all(
      [a!, b!].map((node, i) => tusPatch(node, locations[i]!, 0, head)),
    );
    for (const f of filled) assert.equal(f.res.status, 204, f.text);
    const last = data.subarray(data.length - 1);
    const finals = await Promise.all(
      [a!, b!].map((node, i) => tusPatch(node, locations[i]!, data.length - 1, last)),
    );
    for (const f of finals) {
      assert.equal(f.res.status, 204, `both nodes answer success: ${f.text}`);
      assert.equal(f.res.headers.get('upload-offset'), String(data.length));
    }
    acknowledged.add(sha256);

    const assets = (await new VaultReader(c.url, c.token).listAssets()).filter(
      (x) => x.sha256 === sha256,
    );
    assert.equal(assets.length, 1, 'one asset row');
    const s3 = s3Client(c);
    try {
      const keys = await listKeys(s3, c, `blobs/${sha256}`);
      assert.deepEqual(keys, [`${c.s3Prefix}blobs/${sha256}`], 'one object');
    } finally {
      s3.destroy();
    }
  });

  /**
   * Uploads a large file with the engine's uploader through the proxy and SIGKILLs the node
   * serving one of its PATCHes once `afterConfirmed` bytes are confirmed: at hand-over (the
   * node dies holding the request, before any body byte) or once `bodyBytes` of that PATCH's
   * body reached it. Checks the upload finishes through the other nodes, losing nothing the
   * vault had confirmed; returns what happened, said.
   */
  async function uploadThroughAKill(
    c: VaultCluster,
    dir: string,
    opts: { size: number; chunk: number; afterConfirmed: number; bodyBytes: number },
  ): Promise<string> {
    const job = await jobFor(
      await randomFile(join(dir, `killed-${opts.bodyBytes}.bin`), opts.size),
    );
    const uploader = uploaderFor(c.url, c.token, opts.chunk);
    let uploadUrl: string | undefined;
    let confirmed = 0;
    let killed: { backend: number; at: number; offset: number; body: number } | undefined;
    let killing: Promise<void> | undefined;
    const maybeKill = (request: ServedRequest) => {
      if (killed !== undefined || uploadUrl === undefined || confirmed < opts.afterConfirmed)
        return;
      if (request.method !== 'PATCH' || request.path !== new URL(uploadUrl).pathname) return;
      if (request.bodyBytes < opts.bodyBytes) return;
      killed = {
        backend: request.backend,
        at: c.proxy.served.indexOf(request),
        offset: confirmed,
        body: request.bodyBytes,
      };
      killing = c.kill9(request.backend);
    };
    const unsubscribe = [c.proxy.onHandOver(maybeKill), c.proxy.onBodyForwarded(maybeKill)];
    const rec = recordingCallbacks({ onOffset: (offset) => (confirmed = offset) });
    const onCreated = rec.onCreated.bind(rec);
    rec.onCreated = (url) => {
      uploadUrl = url;
      onCreated(url);
    };
    try {
      const result = await uploader.upload(job, rec, AbortSignal.timeout(300_000));
      await killing;
      assert.ok(killed !== undefined, 'a node was killed during the upload');
      assert.equal(result.sha256, job.sha256);
      acknowledged.add(job.sha256);
      const path = new URL(result.uploadUrl).pathname;
      const afterKill = c.proxy.served.slice(killed.at + 1).filter((s) => s.path === path);
      assert.ok(
        afterKill.some((s) => s.method === 'PATCH' && s.status === 204),
        'other nodes took the rest of the bytes',
      );
      assert.ok(afterKill.every((s) => s.backend !== killed!.backend));
      // The crash lost nothing the vault had confirmed: the offset never went back.
      for (let i = 1; i < rec.offsets.length; i++) {
        assert.ok(rec.offsets[i]! >= rec.offsets[i - 1]!, `offsets ${rec.offsets.join(',')}`);
      }
      const asset = await new VaultReader(c.url, c.token).getAsset(job.sha256);
      assert.equal(asset?.size, job.size);
      const resumedAt = rec.offsets.find(
        (o, i) => i > 0 && rec.offsets[i - 1] === killed!.offset && o !== killed!.offset,
      );
      return `killed node ${killed.backend} holding a PATCH from ${killed.offset} of ${job.size} bytes (${killed.body} of its body forwarded); next confirmed offset ${resumedAt ?? '?'}; then ${afterKill.map((s) => `${s.method}@${s.backend}:${s.status}`).join(' ')}`;
    } finally {
      for (const u of unsubscribe) u();
      await uploader.close();
    }
  }

  it('a node killed with SIGKILL as it takes a PATCH: the client finishes the upload through another node', async (t) => {
    if (skipReason !== null || !cluster || !work) return t.skip(skipReason ?? 'no cluster');
    t.diagnostic(
      await uploadThroughAKill(cluster, work.dir, {
        size: 24 * MiB + 5,
        chunk: 1 * MiB,
        afterConfirmed: 4 * MiB,
        bodyBytes: 0,
      }),
    );
  });

  it('a node killed with SIGKILL part-way through a PATCH body: the client finishes the upload through another node', async (t) => {
    if (skipReason !== null || !cluster || !work) return t.skip(skipReason ?? 'no cluster');
    t.diagnostic(
      await uploadThroughAKill(cluster, work.dir, {
        size: 32 * MiB + 7,
        chunk: 4 * MiB,
        afterConfirmed: 8 * MiB,
        bodyBytes: 2 * MiB,
      }),
    );
  });

  it('afterwards every index row has its object and every object hashes to its key', async (t) => {
    if (skipReason !== null || !cluster) return t.skip(skipReason ?? 'no cluster');
    const c = cluster;
    const index = new pg.Client({ connectionString: c.indexUrl });
    await index.connect();
    const rows = await index
      .query<{ sha256: string; size: string }>('SELECT sha256, size FROM assets')
      .finally(() => index.end());
    const assets = rows.rows.map((r) => ({ sha256: r.sha256, size: Number(r.size) }));
    const listed = await new VaultReader(c.url, c.token).listAssets();
    assert.equal(listed.length, assets.length, 'the API lists every index row');
    const s3 = s3Client(c);
    try {
      const keys = await listKeys(s3, c, 'blobs/');
      // sha256 in the key -> sha256 and length of the bytes
      const objects = new Map<string, { digest: string; size: number }>();
      for (const key of keys) {
        const got = await s3.send(new GetObjectCommand({ Bucket: c.s3.bucket, Key: key }));
        const hash = createHash('sha256');
        let size = 0;
        for await (const chunk of got.Body as AsyncIterable<Uint8Array>) {
          hash.update(chunk);
          size += chunk.length;
        }
        objects.set(key.slice(`${c.s3Prefix}blobs/`.length), { digest: hash.digest('hex'), size });
      }
      for (const [name, object] of objects) {
        assert.equal(object.digest, name, `object ${name} hashes to its key`);
      }
      for (const a of assets) {
        assert.equal(objects.get(a.sha256)?.size, a.size, `index row ${a.sha256} has its object`);
      }
      for (const sha of acknowledged)
        assert.ok(
          assets.some((a) => a.sha256 === sha),
          `${sha} acknowledged is indexed`,
        );
      t.diagnostic(`${assets.length} index rows, ${objects.size} objects`);
    } finally {
      s3.destroy();
    }
  });
});

function s3Client(c: VaultCluster): S3Client {
  return new S3Client({
    endpoint: c.s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: {
      accessKeyId: c.s3.env['AWS_ACCESS_KEY_ID']!,
      secretAccessKey: c.s3.env['AWS_SECRET_ACCESS_KEY']!,
    },
  });
}

/** Every key of this cluster's objects under `under` (relative to its prefix). */
async function listKeys(s3: S3Client, c: VaultCluster, under: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: c.s3.bucket,
        Prefix: `${c.s3Prefix}${under}`,
        ...(token === undefined ? {} : { ContinuationToken: token }),
      }),
    );
    for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key);
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys;
}
