// What the engine reports about itself (runtime/status.ts): an empty photo on the vault is a
// problem the person must see (needs attention), worded as an empty file, or as possible damage
// when the photo was backed up with more bytes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  engineStatus,
  safeFileProblem,
  type StatusInput,
} from '../../../../main/engine/runtime/status.js';

function input(extra: Partial<StatusInput> = {}): StatusInput {
  return {
    summary: [{ state: 'backed_up', folderId: 1, files: 3, bytes: 100 }],
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
  };
}

describe('engine status', () => {
  it('an empty photo on the vault needs attention; none is up to date', () => {
    assert.equal(engineStatus(input()).status, 'up_to_date');
    const s = engineStatus(input({ emptyFiles: 1 }));
    assert.equal(s.status, 'needs_attention');
    assert.equal(s.emptyFiles, 1);
  });

  it('words an empty photo, and one that was backed up with more bytes, as problems', () => {
    assert.deepEqual(safeFileProblem({ state: 'backed_up', size: 0, emptiedFrom: null }), {
      code: 'empty_file',
      message: 'this photo is an empty file',
    });
    assert.deepEqual(safeFileProblem({ state: 'duplicate', size: 0, emptiedFrom: 123456 }), {
      code: 'possible_damage',
      message:
        'possible damage: this photo was backed up with 123,456 bytes and is now empty; the earlier version stays on the vault',
    });
    assert.equal(safeFileProblem({ state: 'backed_up', size: 5, emptiedFrom: null }), null);
    assert.equal(safeFileProblem({ state: 'queued', size: 0, emptiedFrom: null }), null);
  });
});
