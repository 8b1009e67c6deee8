import assert from 'node:assert/strict';
import { chmod, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KeepsakeError, fromFsError, serializeError } from '../../../main/engine/errors.js';
import { makeTempDir } from '../../support/paths.js';

describe('errors', () => {
  it('a missing file becomes file_not_found with the path in words a person reads', async () => {
    const { dir, cleanup } = await makeTempDir();
    try {
      const path = join(dir, 'gone.jpg');
      const err = await open(path, 'r').then(
        () => assert.fail('opened a missing file'),
        (e: unknown) => fromFsError(e, path),
      );
      assert.equal(err.code, 'file_not_found');
      assert.ok(err.message.includes(path));
      assert.deepEqual(serializeError(err), {
        name: 'KeepsakeError',
        code: 'file_not_found',
        message: err.message,
        retryable: false,
      });
    } finally {
      await cleanup();
    }
  });

  it('an unreadable file is permission_denied and retryable (it can be fixed)', async (t) => {
    if (process.getuid?.() === 0) {
      t.skip('root reads any file: permissions cannot be tested as root');
      return;
    }
    const { dir, cleanup } = await makeTempDir();
    try {
      const path = join(dir, 'locked.jpg');
      await writeFile(path, 'x');
      await chmod(path, 0o000);
      const err = await open(path, 'r').then(
        () => assert.fail('opened an unreadable file'),
        (e: unknown) => fromFsError(e, path),
      );
      assert.equal(err.code, 'permission_denied');
      assert.equal(err.retryable, true);
    } finally {
      await cleanup();
    }
  });

  it('a bug (plain Error) serialises as internal, never as an expected condition', () => {
    const data = serializeError(new TypeError('x is undefined'));
    assert.equal(data.code, 'internal');
    assert.equal(data.name, 'TypeError');
    assert.ok(!(new TypeError('x') instanceof KeepsakeError));
  });
});
