// What the group pump declares for a folder's rows (readyDeclarations, pure): a group only
// once every member is safe on the vault, two paths of one content as one member, and files
// whose metadata is not read yet (facts unknown) joining nothing by their facts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FileState } from '../../../../common/contract.js';
import { readyDeclarations } from '../../../../main/engine/pipeline/group-pump.js';
import type { GroupCandidateRow } from '../../../../main/engine/store/group-queries.js';

const LIVE = '602FEBB7-6B59-4799-96E6-9C8484D873C7';
let nextId = 1;
function row(relPath: string, over: Partial<GroupCandidateRow> = {}): GroupCandidateRow {
  const id = nextId++;
  return {
    id,
    relPath,
    sha256: String(id % 10).repeat(64),
    state: 'backed_up',
    mediaKind: /\.(aae|xmp)$/i.test(relPath) ? 'sidecar' : 'media',
    mime: null,
    metadataRead: true,
    appleContentId: null,
    capturedAtMs: null,
    derivedFrom: [],
    ...over,
  };
}

describe('group pump: what is ready to declare', () => {
  it('a Live Photo whose members are all safe is declared, primary first', () => {
    const still = row('IMG_3582.HEIC', { appleContentId: LIVE });
    const video = row('v/IMG_3582.mov', { appleContentId: LIVE, state: 'duplicate' });
    assert.deepEqual(readyDeclarations(7, [still, video]), [
      {
        folderId: 7,
        members: [
          { sha256: still.sha256, role: 'primary' },
          { sha256: video.sha256, role: 'live-video' },
        ],
        json: JSON.stringify([
          { sha256: still.sha256, role: 'primary' },
          { sha256: video.sha256, role: 'live-video' },
        ]),
      },
    ]);
  });

  for (const state of ['discovered', 'hashing', 'queued', 'uploading', 'failed'] as FileState[]) {
    it(`waits while a member is ${state}`, () => {
      const still = row('IMG_1.HEIC', { appleContentId: 'X' });
      const video = row('IMG_1.MOV', { appleContentId: 'X', state });
      assert.deepEqual(readyDeclarations(1, [still, video]), []);
    });
  }

  it('waits while a member has no hash yet', () => {
    const photo = row('IMG_2.JPG');
    const aae = row('IMG_2.AAE', { sha256: null, state: 'discovered' });
    assert.deepEqual(readyDeclarations(1, [photo, aae]), []);
  });

  it('two members with one content are one member; a group left with one is none', () => {
    const photo = row('wedding.jpg');
    const copy = row('wedding_edited.jpg', { sha256: photo.sha256 });
    photo.capturedAtMs = copy.capturedAtMs = 1000;
    assert.deepEqual(readyDeclarations(1, [photo, copy]), []);
  });

  it('a file of an unknown kind (no media name, no image or video mime) joins nothing', () => {
    const photo = row('IMG_3.JPG');
    const other = row('IMG_3.xmp.bak', { mediaKind: 'media' });
    assert.deepEqual(readyDeclarations(1, [photo, other]), []);
  });
});
