// The one policy definition covers the UI contract: every Settings key is a policy key or is
// named, with its reason, as not one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Settings } from '../../../common/contract.js';
import {
  lockableKeys,
  mergePolicies,
  notPolicyKeys,
  policyKeys,
  validatePolicy,
} from '../../../common/policy.js';

describe('the policy definition', () => {
  it('has a policy key for every Settings key of the UI contract, or says why not', () => {
    for (const key of Object.keys(Settings.shape)) {
      assert.ok(
        (policyKeys as readonly string[]).includes(key) || key in notPolicyKeys,
        `Settings key "${key}" is neither a policy key nor in notPolicyKeys`,
      );
    }
    for (const key of ['folders', 'include', 'exclude', 'locked']) {
      assert.ok((policyKeys as readonly string[]).includes(key));
    }
    assert.ok(!(lockableKeys as readonly string[]).includes('locked'));
  });

  it('takes the issue’s own example as written', () => {
    const v = validatePolicy(
      { bandwidthLimit: '1M', folders: ['~/Pictures'], locked: ['bandwidthLimit', 'folders'] },
      'example',
    );
    assert.deepEqual(v.problems, []);
    assert.deepEqual(v.values, { bandwidthLimit: '1M', folders: ['~/Pictures'] });
    assert.deepEqual(v.locked, ['bandwidthLimit', 'folders']);
  });

  it('merges sources: later values win, locks add up', () => {
    const merged = mergePolicies([
      {
        values: { concurrency: 2, startAtLogin: true },
        locked: ['concurrency'],
        sources: ['user'],
        problems: [],
      },
      { values: { concurrency: 5 }, locked: ['startAtLogin'], sources: ['machine'], problems: [] },
    ]);
    assert.deepEqual(merged.values, { concurrency: 5, startAtLogin: true });
    assert.deepEqual([...merged.locked].sort(), ['concurrency', 'startAtLogin']);
    assert.deepEqual(merged.sources, ['user', 'machine']);
  });
});
