// The in-memory ready list a stage takes its next files from: kept in upload order, fed by
// committed changes, bounded, and reloaded from the store when it may have missed some.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createReadyList } from '../../../../main/engine/pipeline/ready-list.js';
import type { FileRecord } from '../../../../main/engine/store/types.js';

function file(id: number, extra: Partial<FileRecord> = {}): FileRecord {
  return {
    id,
    folderId: 1,
    path: `/p/${id}.jpg`,
    relPath: `${id}.jpg`,
    size: 10,
    mtimeMs: id,
    ino: id,
    dev: 1,
    ctimeMs: 1,
    seenAt: 0,
    sha256: null,
    state: 'discovered',
    dedupChecked: false,
    error: null,
    excludedBy: null,
    attempts: 0,
    verifyFailures: 0,
    nextAttemptAt: null,
    uploadUrl: null,
    uploadOffset: null,
    priority: 0,
    mediaKind: 'media',
    mime: null,
    captureTime: null,
    metadataProblems: [],
    metadataState: 'pending',
    createdAt: 0,
    updatedAt: 0,
    uploadedAt: null,
    locationSha256: null,
    locationMtimeMs: null,
    emptiedFrom: null,
    locationRefused: null,
    ...extra,
  };
}

describe('ready list', () => {
  it('answers manual additions first, then newest first, and only what is ready now', () => {
    let loads = 0;
    const list = createReadyList({
      capacity: 100,
      load: () => {
        loads++;
        return [];
      },
      belongs: (f) => f.state === 'discovered',
      readyAt: (f) => f.nextAttemptAt ?? 0,
    });
    assert.deepEqual(list.peek(10, 0), [], 'the store had nothing yet');
    list.offer(file(1));
    list.offer(file(5));
    list.offer(file(2, { priority: 1 }));
    list.offer(file(9, { nextAttemptAt: 1000 }));
    assert.deepEqual(
      list.peek(10, 0).map((f) => f.id),
      [2, 5, 1],
    );
    assert.deepEqual(
      list.peek(10, 2000).map((f) => f.id),
      [2, 9, 5, 1],
    );
    // A committed change that moved a file on drops it; a taken file is removed.
    list.offer(file(5, { state: 'hashing' }));
    list.remove(2);
    assert.deepEqual(
      list.peek(10, 0).map((f) => f.id),
      [1],
    );
    assert.equal(loads, 1, 'loaded once at the start, never per take');
  });

  it('past its capacity it forgets, and reloads from the store once it has drained', () => {
    const db = Array.from({ length: 10 }, (_, i) => file(i + 1));
    const list = createReadyList({
      capacity: 4,
      load: (limit) => db.filter((f) => f.state === 'discovered').slice(0, limit),
      belongs: (f) => f.state === 'discovered',
      readyAt: () => 0,
    });
    const taken: number[] = [];
    for (;;) {
      const next = list.peek(1, 0)[0];
      if (next === undefined) break;
      list.remove(next.id);
      db[next.id - 1] = { ...next, state: 'hashing' };
      taken.push(next.id);
    }
    assert.deepEqual(
      [...taken].sort((a, b) => a - b),
      db.map((f) => f.id),
      'every file was handed out exactly once',
    );
  });
});
