// The contract as both transports enforce it (common/dispatch.ts): malformed arguments never
// reach the engine and come back as a clear `invalid_argument` error; results that break the
// contract never reach the UI.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commands, type CommandName, type KeepsakeApi } from '../../../common/contract.js';
import { dispatchCommand } from '../../../common/dispatch.js';

/** An API whose every method records the call; the tests assert it was (not) reached. */
function recordingApi(answer: (name: CommandName, args: unknown) => unknown) {
  const calls: { name: CommandName; args: unknown }[] = [];
  const api = Object.fromEntries(
    (Object.keys(commands) as CommandName[]).map((name) => [
      name,
      (args: unknown) => {
        calls.push({ name, args });
        return Promise.resolve(answer(name, args));
      },
    ]),
  ) as unknown as KeepsakeApi;
  return { api, calls };
}

const malformed: unknown[] = [42, 'text', [], { unexpectedKey: true }];

describe('contract dispatch', () => {
  for (const name of Object.keys(commands) as CommandName[]) {
    it(`${name} refuses malformed arguments with a clear error and never reaches the engine`, async () => {
      const { api, calls } = recordingApi(() => ({}));
      for (const args of malformed) {
        const res = await dispatchCommand(api, name, args);
        assert.equal(res.ok, false, `${name} accepted ${JSON.stringify(args)}`);
        if (res.ok) return;
        assert.equal(res.error.code, 'invalid_argument');
        assert.equal(res.error.retryable, false);
        assert.match(
          res.error.message,
          new RegExp(`Invalid arguments for ${name.replace('.', '\\.')}: `),
        );
      }
      assert.deepEqual(calls, []);
    });
  }

  it('names the offending field in the error', async () => {
    const { api } = recordingApi(() => ({}));
    const res = await dispatchCommand(api, 'files.retry', { id: 'seven' });
    assert.equal(res.ok, false);
    if (!res.ok) assert.match(res.error.message, /id: /);
    const set = await dispatchCommand(api, 'settings.set', { key: 'concurrency', value: 99 });
    assert.equal(set.ok, false);
    if (!set.ok) assert.match(set.error.message, /value/);
  });

  it('refuses a command that is not in the contract', async () => {
    const { api, calls } = recordingApi(() => ({}));
    for (const name of ['fs.readFile', '__proto__', 'constructor', 'toString', 42]) {
      const res = await dispatchCommand(api, name, {});
      assert.equal(res.ok, false);
      if (!res.ok) {
        assert.equal(res.error.code, 'invalid_argument');
        assert.match(res.error.message, /Unknown command/);
      }
    }
    assert.deepEqual(calls, []);
  });

  it('passes parsed arguments with their defaults to the engine and returns its result', async () => {
    const { api, calls } = recordingApi(() => ({ files: [], next: null, total: 0 }));
    const res = await dispatchCommand(api, 'files.list', { state: 'failed' });
    assert.deepEqual(res, { ok: true, value: { files: [], next: null, total: 0 } });
    assert.deepEqual(calls, [{ name: 'files.list', args: { state: 'failed', limit: 200 } }]);
  });

  it('turns an engine error into data, keeping its code and retryable flag', async () => {
    const { api } = recordingApi(() => {
      throw Object.assign(new Error('The folder is gone: /x'), {
        name: 'KeepsakeError',
        code: 'folder_not_found',
        retryable: false,
      });
    });
    const res = await dispatchCommand(api, 'folders.add', { path: '/x' });
    assert.deepEqual(res, {
      ok: false,
      error: {
        name: 'KeepsakeError',
        code: 'folder_not_found',
        message: 'The folder is gone: /x',
        retryable: false,
      },
    });
  });

  it('refuses to hand the UI a result that breaks the contract, and reports it', async () => {
    const { api } = recordingApi(() => ({ retried: 'many' }));
    const reported: string[] = [];
    const res = await dispatchCommand(api, 'files.retryAll', {}, (name) => reported.push(name));
    assert.equal(res.ok, false);
    if (!res.ok) assert.equal(res.error.code, 'internal');
    assert.deepEqual(reported, ['files.retryAll']);
  });
});
