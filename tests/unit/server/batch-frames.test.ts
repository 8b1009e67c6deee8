import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type FrameEvent, FramingError, readFrames } from '../../../server/batch-frames.js';

function frames(items: { name: string; data: Buffer }[]): Buffer {
  return Buffer.concat(
    items.flatMap((i) => [
      Buffer.from(`${JSON.stringify({ filename: i.name, size: i.data.length })}\n`),
      i.data,
    ]),
  );
}

async function* chunked(body: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < body.length; i += size) {
    await Promise.resolve();
    yield body.subarray(i, i + size);
  }
}

/** Reassembles each frame: its filename and bytes. */
async function collect(events: AsyncIterable<FrameEvent>): Promise<[string, string][]> {
  const out: [string, string][] = [];
  let parts: Buffer[] = [];
  let name = '';
  for await (const ev of events) {
    if (ev.kind === 'header') {
      name = String(ev.header.filename);
      parts = [];
    } else if (ev.kind === 'bytes') parts.push(Buffer.from(ev.chunk));
    else out.push([name, Buffer.concat(parts).toString()]);
  }
  return out;
}

describe('batch frame reader', () => {
  const items = [
    { name: 'a', data: Buffer.from('first file\nwith a newline') },
    { name: 'empty', data: Buffer.alloc(0) },
    { name: 'c', data: Buffer.from('x'.repeat(1000)) },
  ];
  const body = frames(items);

  it('finds every frame whatever the chunk boundaries (newlines in file bytes included)', async () => {
    for (const size of [1, 2, 7, 64, 1000, body.length]) {
      assert.deepEqual(
        await collect(readFrames(chunked(body, size), 3)),
        items.map((i) => [i.name, i.data.toString()]),
        `chunks of ${size}`,
      );
    }
  });

  it('refuses a body with too few or too many bytes, or an unreadable header', async () => {
    const bad: [Buffer, number][] = [
      [body.subarray(0, body.length - 1), 3],
      [body, 2],
      [body, 4],
      [Buffer.from('{"size": -1}\n'), 1],
      [Buffer.from('{"size": 1.5}\nx'), 1],
      [Buffer.from('[1]\n'), 1],
      [Buffer.from(`${' '.repeat(70_000)}\n`), 1],
    ];
    for (const [b, count] of bad) {
      await assert.rejects(collect(readFrames(chunked(b, 16), count)), FramingError);
    }
  });
});
