// The device's heartbeat (runtime/heartbeat.ts): one after a reconcile pass ends and one when
// the backup settles, what it says (counts, bytes pending, how long the oldest unsafe file
// has waited, errors since the last one, paused and why), and that a vault that refuses or
// lacks the route never disturbs the engine. Time moves only on the test's clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Heartbeat } from '../../../../common/vault-protocol.js';
import { silentLogger } from '../../../../main/engine/ports.js';
import { createHeartbeat, heartbeatOf } from '../../../../main/engine/runtime/heartbeat.js';
import { engineStatus, type StatusInput } from '../../../../main/engine/runtime/status.js';
import { manualClock } from '../../../support/manual-clock.js';

const T0 = Date.UTC(2026, 0, 1);

function status(extra: Partial<StatusInput> = {}) {
  return engineStatus({
    summary: [
      { state: 'backed_up', folderId: 1, files: 3, bytes: 300 },
      { state: 'queued', folderId: 1, files: 2, bytes: 50 },
    ],
    current: [],
    throughput: 0,
    pauseReason: null,
    pausedUntil: null,
    vaultReachable: true,
    anyFolderOffline: false,
    reconciling: 0,
    oldestUnsafeMtimeMs: null,
    unreadableFolders: 0,
    emptyFiles: 0,
    placesNotRecorded: 0,
    lastErrors: [],
    vault: { url: 'http://v', reachable: true, embedded: false, dir: null, sameDiskAs: null },
    ...extra,
  });
}

describe('heartbeat', () => {
  it('reports counts, bytes pending, the wait of the oldest unsafe file and only new errors', () => {
    const errors = [
      { id: 2, at: T0 - 10, level: 'error' as const, message: 'new', path: null, code: null },
      { id: 1, at: T0 - 5000, level: 'error' as const, message: 'old', path: null, code: null },
    ];
    const beat = heartbeatOf(
      status({ lastErrors: errors, pauseReason: 'vault_full' }),
      'reconcile',
      T0,
      T0 - 3600_000,
      T0 - 1000,
      '1.2.3',
      'linux',
    );
    assert.equal(beat.counts.backed_up, 3);
    assert.equal(beat.counts.queued, 2);
    assert.equal(beat.bytesPending, 50);
    assert.equal(beat.oldestUnsafeAgeMs, 3600_000);
    assert.equal(beat.lastError, 'new');
    assert.equal(beat.paused, true);
    assert.equal(beat.pausedReason, 'vault_full');
    assert.equal(
      heartbeatOf(status({ lastErrors: errors }), 'backup', T0, null, T0, 'v', 'os').lastError,
      null,
      'errors from before the previous heartbeat are not reported again',
    );
  });

  it('sends one heartbeat when a reconcile pass ends and one when the backup settles', async () => {
    const clock = manualClock(T0);
    const sent: Heartbeat[] = [];
    let reconciling = false;
    let settled = false;
    const hb = createHeartbeat({
      send: (beat) => {
        sent.push(beat);
        return Promise.resolve();
      },
      status: () => status(),
      oldestUnsafeSince: () => null,
      reconciling: () => reconciling,
      settled: () => settled,
      clock,
      logger: silentLogger,
      version: '1.0.0',
      os: 'test',
      signal: new AbortController().signal,
      checkEveryMs: 1000,
    });
    try {
      reconciling = true;
      hb.poke();
      hb.poke();
      assert.equal(sent.length, 0, 'nothing while the pass runs');
      reconciling = false;
      hb.poke();
      await Promise.resolve();
      assert.deepEqual(
        sent.map((b) => b.pass),
        ['reconcile'],
      );
      clock.advance(1000);
      assert.equal(sent.length, 1, 'not settled yet: no backup heartbeat');
      settled = true;
      clock.advance(1000);
      await Promise.resolve();
      assert.deepEqual(
        sent.map((b) => b.pass),
        ['reconcile', 'backup'],
      );
      clock.advance(5000);
      assert.equal(sent.length, 2, 'staying settled sends nothing more');
    } finally {
      hb.close();
    }
  });

  it('a vault that refuses the heartbeat or lacks the route changes nothing (never throws)', async () => {
    const clock = manualClock(T0);
    let calls = 0;
    const hb = createHeartbeat({
      send: () => {
        calls += 1;
        return Promise.reject(new Error('404 no such API endpoint'));
      },
      status: () => status(),
      oldestUnsafeSince: () => null,
      reconciling: () => false,
      settled: () => true,
      clock,
      logger: silentLogger,
      version: '1.0.0',
      os: 'test',
      signal: new AbortController().signal,
    });
    try {
      await hb.send('backup');
      await hb.send('backup');
      assert.equal(calls, 2);
    } finally {
      hb.close();
    }
  });

  it('without a vault to report to, nothing is sent and no timer is left', async () => {
    const clock = manualClock(T0);
    const hb = createHeartbeat({
      send: null,
      status: () => status(),
      oldestUnsafeSince: () => null,
      reconciling: () => false,
      settled: () => true,
      clock,
      logger: silentLogger,
      version: '1.0.0',
      os: 'test',
      signal: new AbortController().signal,
    });
    await hb.send('backup');
    assert.equal(clock.pending(), 0);
    hb.close();
  });
});
