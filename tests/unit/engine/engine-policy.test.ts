// An organisation's policy applied by the engine and refused through its API, as both UI
// transports see it (dispatchCommand: errors as data): locked settings keep their value and
// say "set by your organisation", unlocked policy values are defaults a person may change,
// required folders are watched and cannot be removed, and a changed policy applies at once.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { dispatchCommand } from '../../../common/dispatch.js';
import { validatePolicy, type Policy } from '../../../common/policy.js';
import type { KeepsakeEngine } from '../../../main/engine/api.js';
import { createEngine } from '../../../main/engine/engine.js';
import { silentLogger } from '../../../main/engine/ports.js';
import { makeTempDir } from '../../support/paths.js';

function policyOf(raw: Record<string, unknown>): Policy {
  const v = validatePolicy(raw, 'test-policy.json');
  return {
    values: v.values,
    locked: v.locked,
    sources: ['test-policy.json'],
    problems: v.problems,
  };
}

describe('engine: an organisation’s policy', () => {
  let engine: KeepsakeEngine | null = null;
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await engine?.close();
    engine = null;
  });
  after(async () => {
    for (const c of cleanups) await c();
  });

  async function temp(prefix: string): Promise<string> {
    const t = await makeTempDir(prefix);
    cleanups.push(t.cleanup);
    return t.dir;
  }

  async function open(policy: Policy): Promise<KeepsakeEngine> {
    return createEngine({
      dataDir: await temp('keepsake-policy-data-'),
      logger: silentLogger,
      metadataReader: null,
      createWatcher: null,
      settleMs: 0,
      policy,
    });
  }

  const call = async (e: KeepsakeEngine, name: string, args: unknown) =>
    await dispatchCommand(e.api, name, args);

  it('locked settings are refused with the reason; unlocked policy values are defaults', async () => {
    const e = (engine = await open(
      policyOf({
        bandwidthLimit: '1M',
        pauseOnBattery: true,
        concurrency: 2,
        updateChannel: 'beta',
        locked: ['bandwidthLimit', 'pauseOnBattery', 'updatesAllowed'],
      }),
    ));
    await e.start();
    const s = await e.api['settings.get']({});
    assert.deepEqual(s.bandwidthLimit, { value: '1M', source: 'policy', locked: true });
    assert.deepEqual(s.pauseOnBattery, { value: true, source: 'policy', locked: true });
    // Locked without a value: the default is what is locked.
    assert.deepEqual(s.updatesAllowed, { value: true, source: 'policy', locked: true });
    assert.deepEqual(s.concurrency, { value: 2, source: 'policy', locked: false });
    assert.deepEqual(s.updateChannel, { value: 'beta', source: 'policy', locked: false });

    for (const [key, value] of [
      ['bandwidthLimit', '8M'],
      ['pauseOnBattery', false],
      ['updatesAllowed', false],
    ] as const) {
      const res = await call(e, 'settings.set', { key, value });
      assert.equal(res.ok, false, key);
      if (!res.ok) {
        assert.equal(res.error.code, 'setting_locked');
        assert.match(res.error.message, /set by your organisation/);
        assert.match(res.error.message, new RegExp(key));
      }
    }
    const changed = await call(e, 'settings.set', { key: 'concurrency', value: 5 });
    assert.equal(changed.ok, true);
    const after = await e.api['settings.get']({});
    assert.deepEqual(after.concurrency, { value: 5, source: 'user', locked: false });
    assert.equal(after.bandwidthLimit.value, '1M');
  });

  it('required folders are watched with the policy’s rules and cannot be removed; locked folders refuse others', async () => {
    const home = await temp('keepsake-policy-folders-');
    const required = join(home, 'Pictures');
    const other = join(home, 'Other');
    await mkdir(required);
    await mkdir(other);
    const e = (engine = await open(
      policyOf({
        folders: [required],
        exclude: ['**/Thumbs/**'],
        locked: ['folders', 'exclude'],
      }),
    ));
    await e.start();
    const folders = await e.api['folders.list']({});
    assert.equal(folders.length, 1);
    const f = folders[0];
    assert.ok(f);
    assert.equal(f.path, required);
    assert.equal(f.requiredByPolicy, true);
    assert.deepEqual(f.exclude, ['**/Thumbs/**']);

    const remove = await call(e, 'folders.remove', { id: f.id });
    assert.equal(remove.ok, false);
    if (!remove.ok) {
      assert.equal(remove.error.code, 'setting_locked');
      assert.match(remove.error.message, /required by your organisation/);
    }
    const rules = await call(e, 'folders.setRules', { id: f.id, include: [], exclude: [] });
    assert.equal(rules.ok, false);
    if (!rules.ok) assert.match(rules.error.message, /"exclude" is set by your organisation/);
    const add = await call(e, 'folders.add', { path: other });
    assert.equal(add.ok, false);
    if (!add.ok) {
      assert.equal(add.error.code, 'setting_locked');
      assert.match(add.error.message, /set by your organisation/);
    }
    assert.equal((await e.api['folders.list']({})).length, 1);
  });

  it('a changed policy applies at once: new locks, new required folders, released locks', async () => {
    const home = await temp('keepsake-policy-change-');
    const later = join(home, 'Scans');
    await mkdir(later);
    const e = (engine = await open(policyOf({ bandwidthLimit: '1M', locked: ['bandwidthLimit'] })));
    await e.start();
    assert.equal((await call(e, 'settings.set', { key: 'bandwidthLimit', value: '2M' })).ok, false);

    await e.setPolicy(
      policyOf({ pauseOnMetered: false, folders: [later], locked: ['pauseOnMetered'] }),
    );
    const s = await e.api['settings.get']({});
    assert.deepEqual(s.pauseOnMetered, { value: false, source: 'policy', locked: true });
    assert.equal(s.bandwidthLimit.locked, false);
    assert.equal((await call(e, 'settings.set', { key: 'bandwidthLimit', value: '2M' })).ok, true);
    const folders = await e.api['folders.list']({});
    assert.deepEqual(
      folders.map((f) => [f.path, f.requiredByPolicy]),
      [[later, true]],
    );
  });

  it('a bad policy key is an activity warning naming the file and key; the rest applies', async () => {
    const e = (engine = await open(
      policyOf({ concurrency: 99, pauseOnBattery: true, locked: ['pauseOnBattery'] }),
    ));
    const s = await e.api['settings.get']({});
    assert.deepEqual(s.pauseOnBattery, { value: true, source: 'policy', locked: true });
    assert.equal(s.concurrency.source, 'default');
    const activity = await e.api['activity.list']({});
    const warning = activity.find((a) => a.code === 'policy_invalid');
    assert.ok(warning, 'a policy warning in the activity list');
    assert.match(warning.message, /test-policy\.json/);
    assert.match(warning.message, /"concurrency"/);
  });
});
