// An administrator's policy, read from each OS's format with real files: a JSON file, a
// managed-preferences plist (XML, and binary as macOS writes it; made by Python's plistlib, an
// independent writer), the registry as `reg query /s` prints it and as a .reg export
// (UTF-16LE) holds it. See tests/fixtures/policy/.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  expandPolicyPath,
  parseJsonPolicy,
  parsePlistPolicy,
  policyFiles,
  readPolicy,
  runRegTool,
  watchPolicy,
  type PolicyLocations,
} from '../../../../main/engine/policy/read-policy.js';
import {
  decodeRegFile,
  parseRegFile,
  parseRegQuery,
  registryToRaw,
} from '../../../../main/engine/policy/registry.js';
import { validatePolicy, type Policy } from '../../../../common/policy.js';
import { makeTempDir } from '../../../support/paths.js';

const fixtures = join(import.meta.dirname, '..', '..', '..', 'fixtures', 'policy');
const hklm = 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Keepsake';

const cleanups: (() => Promise<void>)[] = [];
after(() => Promise.all(cleanups.map((c) => c())));
async function temp(prefix: string): Promise<string> {
  const t = await makeTempDir(prefix);
  cleanups.push(t.cleanup);
  return t.dir;
}

function locations(over: Partial<PolicyLocations>): PolicyLocations {
  return {
    platform: 'linux',
    env: {},
    systemRoot: '/nonexistent',
    userName: 'alice',
    runReg: () => Promise.resolve({ code: 1, stdout: '' }),
    ...over,
  };
}

describe('reading an administrator policy', () => {
  it('reads /etc/keepsake/policy.json on Linux, and no file means no policy', async () => {
    const root = await temp('policy-root-');
    const loc = locations({ systemRoot: root });
    assert.deepEqual((await readPolicy(loc)).values, {});
    mkdirSync(join(root, 'etc', 'keepsake'), { recursive: true });
    writeFileSync(
      join(root, 'etc', 'keepsake', 'policy.json'),
      JSON.stringify({
        bandwidthLimit: '1M',
        folders: ['~/Pictures'],
        locked: ['bandwidthLimit', 'folders'],
      }),
    );
    const policy = await readPolicy(loc);
    assert.deepEqual(policy.values, { bandwidthLimit: '1M', folders: ['~/Pictures'] });
    assert.deepEqual(policy.locked, ['bandwidthLimit', 'folders']);
    assert.deepEqual(policy.problems, []);
    assert.deepEqual(policy.sources, [join(root, 'etc', 'keepsake', 'policy.json')]);
  });

  it('KEEPSAKE_POLICY_FILE replaces the system location', async () => {
    const dir = await temp('policy-env-');
    const file = join(dir, 'fleet.json');
    writeFileSync(file, JSON.stringify({ pauseOnMetered: false }));
    const loc = locations({ env: { KEEPSAKE_POLICY_FILE: file }, platform: 'darwin' });
    assert.deepEqual(policyFiles(loc), [file]);
    assert.deepEqual((await readPolicy(loc)).values, { pauseOnMetered: false });
  });

  it('a bad key is named with its file, and the rest of the policy still applies', () => {
    const policy = parseJsonPolicy(
      JSON.stringify({
        concurrency: 40,
        bandwidthLimit: 'fast please',
        pauseOnBattery: 'yes',
        startAtLogin: false,
        locked: ['startAtLogin', 'colour'],
        vaultURL: 'https://typo.example',
        folders: ['/srv/photos'],
      }),
      '/etc/keepsake/policy.json',
    );
    assert.deepEqual(policy.values, { startAtLogin: false, folders: ['/srv/photos'] });
    const byKey = new Map(policy.problems.map((p) => [p.key, p.message]));
    assert.deepEqual([...byKey.keys()].sort(), [
      'bandwidthLimit',
      'concurrency',
      'locked',
      'pauseOnBattery',
      'vaultURL',
    ]);
    for (const p of policy.problems) assert.equal(p.source, '/etc/keepsake/policy.json');
    assert.match(
      byKey.get('concurrency') ?? '',
      /"concurrency".*1 to 16.*rest of the policy applies/,
    );
    assert.match(byKey.get('pauseOnBattery') ?? '', /true or false/);
    assert.match(byKey.get('vaultURL') ?? '', /unknown key "vaultURL"/);
    assert.match(byKey.get('bandwidthLimit') ?? '', /"bandwidthLimit"/);
    // A bad `locked` list is dropped whole: locking less than asked is visible, never more.
    assert.deepEqual(policy.locked, []);
  });

  it('a file that is not JSON is a problem naming the file, not a crash', () => {
    const policy = parseJsonPolicy('{ "bandwidthLimit": "1M", ', '/etc/keepsake/policy.json');
    assert.deepEqual(policy.values, {});
    assert.equal(policy.problems[0]?.source, '/etc/keepsake/policy.json');
    assert.match(policy.problems[0]?.message ?? '', /not valid JSON/);
  });

  it('an unreadable policy file is a problem naming it', async () => {
    const root = await temp('policy-perm-');
    const file = join(root, 'etc', 'keepsake', 'policy.json');
    // A directory where the file should be: unreadable as a file even for root.
    mkdirSync(file, { recursive: true });
    const policy = await readPolicy(locations({ systemRoot: root }));
    assert.equal(policy.problems[0]?.source, file);
    assert.match(policy.problems[0]?.message ?? '', /cannot be read/);
  });

  it('reads macOS managed preferences as XML and as binary plists, the computer’s beating the user’s', async () => {
    const xml = parsePlistPolicy(
      readFileSync(join(fixtures, 'app.keepsake.desktop.xml.plist')),
      'xml.plist',
    );
    const binary = parsePlistPolicy(
      readFileSync(join(fixtures, 'app.keepsake.desktop.binary.plist')),
      'binary.plist',
    );
    const expected = {
      vaultUrl: 'https://vault.example.com:7418',
      folders: ['~/Pictures', '/Volumes/Photos'],
      exclude: ['**/Thumbs/**'],
      bandwidthLimit: 'Mon-08:00,1M Mon-18:00,off',
      concurrency: 2,
      pauseOnBattery: true,
      pauseOnMetered: false,
      updateChannel: 'beta',
    };
    assert.deepEqual(xml.problems, []);
    assert.deepEqual(xml.values, expected);
    assert.deepEqual(binary.problems, []);
    assert.deepEqual(binary.values, expected);
    assert.deepEqual([...binary.locked].sort(), ['bandwidthLimit', 'folders', 'pauseOnBattery']);

    const root = await temp('policy-mac-');
    const dir = join(root, 'Library', 'Managed Preferences');
    mkdirSync(join(dir, 'alice'), { recursive: true });
    writeFileSync(
      join(dir, 'alice', 'app.keepsake.desktop.plist'),
      readFileSync(join(fixtures, 'app.keepsake.desktop.binary.plist')),
    );
    writeFileSync(
      join(dir, 'app.keepsake.desktop.plist'),
      '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0"><dict><key>concurrency</key><integer>5</integer><key>locked</key><array><string>concurrency</string></array></dict></plist>\n',
    );
    const merged = await readPolicy(locations({ platform: 'darwin', systemRoot: root }));
    assert.equal(merged.values.concurrency, 5);
    assert.equal(merged.values.vaultUrl, 'https://vault.example.com:7418');
    assert.deepEqual([...merged.locked].sort(), [
      'bandwidthLimit',
      'concurrency',
      'folders',
      'pauseOnBattery',
    ]);
  });

  it('a damaged plist is a problem naming the file', () => {
    const policy = parsePlistPolicy(Buffer.from('bplist00 garbage'), '/Library/x.plist');
    assert.equal(policy.problems[0]?.source, '/Library/x.plist');
    assert.match(policy.problems[0]?.message ?? '', /not a readable property list/);
  });

  it('reads the registry as `reg query /s` prints it (values, list subkeys, REG_MULTI_SZ)', () => {
    const tree = parseRegQuery(readFileSync(join(fixtures, 'reg-query-hklm.txt'), 'utf8'));
    const raw = registryToRaw(tree, hklm);
    assert.ok(raw);
    const v = validatePolicy(raw, hklm);
    assert.deepEqual(v.problems, []);
    assert.deepEqual(v.values, {
      vaultUrl: 'https://vault.example.com:7418',
      bandwidthLimit: 'Mon-08:00,1M Mon-18:00,off',
      pauseOnBattery: true,
      pauseOnMetered: false,
      concurrency: 16,
      updateChannel: 'beta',
      exclude: ['**/Thumbs/**', '**/*.tmp'],
      deviceName: 'Front desk PC',
      folders: ['%USERPROFILE%\\Pictures', 'D:\\Photos'],
    });
    assert.deepEqual(v.locked, ['bandwidthLimit', 'pauseOnBattery']);
  });

  it('reads a .reg export (UTF-16LE, escaped quotes, hex(2) and wrapped hex(7) values)', () => {
    const tree = parseRegFile(decodeRegFile(readFileSync(join(fixtures, 'keepsake-hklm.reg'))));
    const raw = registryToRaw(tree, hklm);
    assert.ok(raw);
    const v = validatePolicy(raw, hklm);
    assert.deepEqual(v.problems, []);
    assert.deepEqual(v.values, {
      vaultUrl: 'https://vault.example.com:7418',
      bandwidthLimit: '2M',
      concurrency: 4,
      pauseOnBattery: true,
      startAtLogin: false,
      deviceName: 'Reception "front" PC',
      exclude: ['**/Thumbs/**', '**/*.tmp'],
      folders: ['%USERPROFILE%\\Pictures', 'D:\\Photos'],
    });
    assert.deepEqual(v.locked, ['bandwidthLimit', 'folders']);
  });

  it('on Windows reads HKCU then HKLM through reg, the machine’s policy winning', async () => {
    const machine = readFileSync(join(fixtures, 'reg-query-hklm.txt'), 'utf8');
    const user = [
      '',
      'HKEY_CURRENT_USER\\SOFTWARE\\Policies\\Keepsake',
      '    concurrency    REG_DWORD    0x2',
      '    startAtLogin    REG_DWORD    0x0',
      '',
    ].join('\r\n');
    const calls: string[][] = [];
    const policy = await readPolicy(
      locations({
        platform: 'win32',
        runReg: (args) => {
          calls.push(args);
          return Promise.resolve({
            code: 0,
            stdout: args[1]?.startsWith('HKEY_CURRENT') ? user : machine,
          });
        },
      }),
    );
    assert.deepEqual(calls, [
      ['query', 'HKEY_CURRENT_USER\\SOFTWARE\\Policies\\Keepsake', '/s'],
      ['query', hklm, '/s'],
    ]);
    assert.equal(policy.values.concurrency, 16);
    assert.equal(policy.values.startAtLogin, false);
  });

  it('asks the real `reg` tool on Windows', async (t) => {
    if (process.platform !== 'win32') {
      t.skip('the reg tool exists only on Windows');
      return;
    }
    const out = await runRegTool(['query', hklm, '/s']);
    assert.ok(out.code === 0 || out.code === 1);
  });

  it('expands ~ and %VARIABLES% in required folders', () => {
    assert.equal(expandPolicyPath('~/Pictures', {}, '/home/al'), '/home/al/Pictures');
    assert.equal(
      expandPolicyPath('%UserProfile%\\Pictures', { USERPROFILE: 'C:\\Users\\al' }, '/x'),
      'C:\\Users\\al\\Pictures',
    );
    assert.equal(expandPolicyPath('%NOPE%\\x', {}, '/x'), '%NOPE%\\x');
  });

  // A missed change fails in seconds, not at the runner's ten-minute timeout.
  it(
    'sees a policy file created, changed and removed while running',
    { timeout: 30_000 },
    async () => {
      const dir = await temp('policy-watch-');
      const file = join(dir, 'policy.json');
      const loc = locations({ env: { KEEPSAKE_POLICY_FILE: file } });
      const seen: Policy[] = [];
      let wake: (() => void) | null = null;
      const next = () => new Promise<void>((r) => (wake = r));
      const watch = watchPolicy(
        loc,
        await readPolicy(loc),
        (p) => {
          seen.push(p);
          wake?.();
        },
        { fileIntervalMs: 50, persistent: true },
      );
      try {
        let change = next();
        writeFileSync(
          `${file}.tmp`,
          JSON.stringify({ bandwidthLimit: '1M', locked: ['bandwidthLimit'] }),
        );
        renameSync(`${file}.tmp`, file);
        await change;
        assert.deepEqual(seen.at(-1)?.values, { bandwidthLimit: '1M' });
        change = next();
        writeFileSync(file, JSON.stringify({ bandwidthLimit: '2M' }));
        await change;
        assert.deepEqual(seen.at(-1)?.values, { bandwidthLimit: '2M' });
        assert.deepEqual(seen.at(-1)?.locked, []);
      } finally {
        watch.close();
      }
    },
  );
});
