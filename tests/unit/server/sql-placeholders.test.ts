import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { numberPlaceholders } from '../../../server/index/sql.js';

describe('SQL placeholders for PostgreSQL', () => {
  it('numbers ? parameters in order', () => {
    assert.deepEqual(numberPlaceholders('SELECT * FROM t WHERE a = ? AND b > ?', ['x', 5]), {
      text: 'SELECT * FROM t WHERE a = $1 AND b > $2',
      values: ['x', 5],
    });
  });

  it('gives a named parameter used twice one number and one value', () => {
    assert.deepEqual(
      numberPlaceholders('UPDATE t SET a = @v, seen = @at WHERE a <> @v AND b = @at_2', {
        v: 1,
        at: 2,
        at_2: 3,
        unused: 4,
      }),
      { text: 'UPDATE t SET a = $1, seen = $2 WHERE a <> $1 AND b = $3', values: [1, 2, 3] },
    );
  });

  it('leaves ? and @ inside quoted strings and identifiers alone', () => {
    assert.deepEqual(
      numberPlaceholders(`SELECT '?', 'a@b.c', "col?" FROM t WHERE x = ? AND y = 'it''s ?'`, [7]),
      {
        text: `SELECT '?', 'a@b.c', "col?" FROM t WHERE x = $1 AND y = 'it''s ?'`,
        values: [7],
      },
    );
  });

  it('passes nulls and buffers through as values', () => {
    const bytes = Buffer.from([0, 255]);
    assert.deepEqual(numberPlaceholders('VALUES (?, ?)', [null, bytes]).values, [null, bytes]);
  });

  it('leaves a statement without parameters as it is', () => {
    assert.deepEqual(numberPlaceholders('SELECT 1', undefined), { text: 'SELECT 1', values: [] });
  });

  it('refuses a statement whose parameters are missing, naming the one', () => {
    assert.throws(() => numberPlaceholders('SELECT ?, ?', [1]), /missing SQL parameter 2/);
    assert.throws(() => numberPlaceholders('SELECT @a, @b', { a: 1 }), /missing SQL parameter @b/);
    assert.throws(() => numberPlaceholders('SELECT ?', undefined), /missing SQL parameter 1/);
  });

  it('takes a named parameter whose value is undefined as given (NULL), not as missing', () => {
    assert.deepEqual(numberPlaceholders('SELECT @a', { a: undefined }).values, [undefined]);
  });
});
