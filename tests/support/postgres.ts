// A real PostgreSQL server for tests (issue 14): Debian's binaries (the `postgresql` package,
// which .ci/run installs), a cluster made by initdb in a fresh temp directory, listening on a
// free port on 127.0.0.1 only, with its socket inside that directory. Start one per test file
// (initdb takes about a second) and give each test its own database (createDatabase()).
//
// PostgreSQL refuses to run as root, and CI runs as root: then the directory is handed to the
// unprivileged `postgres` user the package creates and every binary runs through
// `runuser -u postgres --`. Run as anyone else, the binaries run as that user.
//
// Trust authentication, on loopback only: nothing outside this machine can connect, and tests
// need no password. fsync, full_page_writes and synchronous_commit are off: they protect a
// cluster from power loss, and this one is thrown away when the test ends, so they only cost
// time (the durability of a commit is PostgreSQL's promise, not something these tests measure).
//
// close() stops the server (pg_ctl stop -m fast) and removes the directory; call it in after().
// If the process exits without it (a crash, an interrupted run), an exit hook stops the server
// immediately and removes the directory, so no postgres is left running.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { appendFile, chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface TestPostgres {
  /** 127.0.0.1's port the server listens on. */
  port: number;
  /** A new, empty database; its URL (postgres://postgres@127.0.0.1:PORT/NAME, no password). */
  createDatabase(): Promise<string>;
  /** Stops the server, keeping its directory (to test what a stopped index looks like). */
  stop(): Promise<void>;
  /** Stops the server if it runs and removes its directory. */
  close(): Promise<void>;
}

/** The server binaries: KEEPSAKE_PG_BIN, else Debian's newest under /usr/lib/postgresql. */
function binDir(): string {
  const chosen = process.env['KEEPSAKE_PG_BIN'];
  if (chosen !== undefined) return chosen;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0] === undefined) {
    throw new Error(
      `PostgreSQL's server binaries are not installed (no ${root}/*/bin/initdb): apt-get install postgresql, or set KEEPSAKE_PG_BIN`,
    );
  }
  return join(root, versions[0], 'bin');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const asRoot = process.getuid?.() === 0;
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Runs a server binary as the user PostgreSQL runs as; throws with its output on failure. */
function runPg(bin: string, args: string[]): void {
  const [command, argv] = asRoot
    ? ['runuser', ['-u', 'postgres', '--', bin, ...args]]
    : [bin, args];
  const res = spawnSync(command, argv, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if (res.status !== 0) {
    throw new Error(
      `${bin} ${args.join(' ')} failed (${res.status ?? res.signal}): ${res.stderr}${res.stdout}`,
    );
  }
}

export async function startTestPostgres(): Promise<TestPostgres> {
  const bin = binDir();
  const dir = await mkdtemp(join(tmpdir(), 'keepsake-pg-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'socket');
  const log = join(dir, 'server.log');
  let running = false;
  const stopNow = (): void => {
    if (running) runPg(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w']);
    running = false;
    rmSync(dir, { recursive: true, force: true });
  };
  // An interrupted run (Ctrl-C, the test runner's SIGTERM) does not reach 'exit' by itself:
  // stop the server, then die of the signal as the process would have.
  const onSignal = (signal: NodeJS.Signals): void => {
    stopNow();
    process.kill(process.pid, signal);
  };
  const unhook = (): void => {
    process.off('exit', stopNow);
    for (const signal of SIGNALS) process.off(signal, onSignal);
  };
  process.on('exit', stopNow);
  for (const signal of SIGNALS) process.once(signal, onSignal);
  try {
    await mkdir(socket);
    if (asRoot) {
      const { uid, gid } = postgresUser();
      for (const path of [dir, socket]) await chown(path, uid, gid);
    }
    await chmod(dir, 0o700);
    runPg(join(bin, 'initdb'), [
      '-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync',
    ]); // prettier-ignore
    const port = await freePort();
    await appendFile(
      join(data, 'postgresql.conf'),
      [
        `listen_addresses = '127.0.0.1'`,
        `port = ${port}`,
        `unix_socket_directories = '${socket}'`,
        'fsync = off',
        'full_page_writes = off',
        'synchronous_commit = off',
        'max_connections = 200',
        // Test databases are small; several test files run a server each at once.
        'shared_buffers = 32MB',
        // A deadlock is found after this wait (1 s by default); tests make them on purpose.
        'deadlock_timeout = 50ms',
        '',
      ].join('\n'),
    );
    try {
      runPg(join(bin, 'pg_ctl'), ['start', '-D', data, '-l', log, '-w', '-t', '60']);
    } catch (e) {
      const said = existsSync(log) ? readFileSync(log, 'utf8') : '(no log)';
      throw new Error(`${(e as Error).message}\nserver log:\n${said}`, { cause: e });
    }
    running = true;
    let databases = 0;
    const admin = (): pg.Client =>
      new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    return {
      port,
      async createDatabase() {
        const name = `keepsake_test_${++databases}`;
        const client = admin();
        await client.connect();
        try {
          // FILE_COPY: with fsync off, copying template1's files beats WAL-logging them.
          await client.query(`CREATE DATABASE ${name} STRATEGY FILE_COPY`);
        } finally {
          await client.end();
        }
        return `postgres://postgres@127.0.0.1:${port}/${name}`;
      },
      stop() {
        if (running) runPg(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'fast', '-w']);
        running = false;
        return Promise.resolve();
      },
      async close() {
        unhook();
        try {
          if (running) runPg(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'fast', '-w']);
          running = false;
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (e) {
    unhook();
    stopNow();
    throw e;
  }
}

function postgresUser(): { uid: number; gid: number } {
  const res = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  const uid = Number(res.stdout.trim());
  const g = Number(gid.stdout.trim());
  if (res.status !== 0 || !Number.isInteger(uid) || !Number.isInteger(g)) {
    throw new Error('running as root, but there is no `postgres` user to run PostgreSQL as');
  }
  return { uid, gid: g };
}
