// The framing of POST /api/v1/batch (common/vault-protocol.ts): N frames back to back, each a
// header line (UTF-8 JSON, at most MAX_FRAME_HEADER_BYTES, ended by "\n") and then exactly
// `size` raw bytes. readFrames turns a byte stream into header / bytes / end events without
// ever holding more than one header line and the chunk in hand: a frame's bytes are handed
// on as slices of the chunks they arrived in, so memory stays bounded whatever the batch size.
// Invariant: it yields exactly `count` frames, or throws FramingError (the body is not a
// batch: too few or too many bytes, an unreadable header); it never skips or merges bytes.
import { MAX_FRAME_HEADER_BYTES } from '../common/vault-protocol.js';

export class FramingError extends Error {
  override name = 'FramingError';
}

export type FrameEvent =
  /** A frame starts: its header JSON (not yet validated beyond `size`) and its size. */
  | { kind: 'header'; index: number; header: Record<string, unknown>; size: number }
  /** Some of the current frame's bytes, in order (a slice of a received chunk). */
  | { kind: 'bytes'; chunk: Buffer }
  /** The current frame's last byte has been handed on. */
  | { kind: 'end'; index: number };

const NEWLINE = 0x0a;

function parseHeader(
  line: Buffer,
  index: number,
): { header: Record<string, unknown>; size: number } {
  let json: unknown;
  try {
    json = JSON.parse(line.toString('utf8'));
  } catch {
    throw new FramingError(`frame ${index + 1}: the header line is not JSON`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new FramingError(`frame ${index + 1}: the header line is not a JSON object`);
  }
  const header = json as Record<string, unknown>;
  const size = header.size;
  // Without a trustworthy size the next frame cannot be found: the whole batch is unreadable.
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new FramingError(`frame ${index + 1}: "size" must be a whole number of bytes`);
  }
  return { header, size };
}

/** Reads `count` frames from `body`; the caller consumes each event before the next is read. */
export async function* readFrames(
  body: AsyncIterable<Buffer>,
  count: number,
): AsyncGenerator<FrameEvent> {
  let index = 0;
  /** bytes of the current frame still to come; -1 while reading a header line */
  let remaining = -1;
  let headerParts: Buffer[] = [];
  let headerBytes = 0;

  function* startFrame(line: Buffer): Generator<FrameEvent> {
    const { header, size } = parseHeader(line, index);
    yield { kind: 'header', index, header, size };
    remaining = size;
    if (size === 0) yield* endFrame();
  }
  function* endFrame(): Generator<FrameEvent> {
    yield { kind: 'end', index };
    index += 1;
    remaining = -1;
  }

  for await (const chunk of body) {
    let pos = 0;
    while (pos < chunk.length) {
      if (index >= count) {
        throw new FramingError(`the body holds more bytes after its ${count} frames`);
      }
      if (remaining < 0) {
        const nl = chunk.indexOf(NEWLINE, pos);
        const end = nl < 0 ? chunk.length : nl;
        headerBytes += end - pos;
        if (headerBytes > MAX_FRAME_HEADER_BYTES) {
          throw new FramingError(
            `frame ${index + 1}: the header line is longer than ${MAX_FRAME_HEADER_BYTES} bytes`,
          );
        }
        headerParts.push(chunk.subarray(pos, end));
        if (nl < 0) break;
        pos = nl + 1;
        const line = headerParts.length === 1 ? headerParts[0]! : Buffer.concat(headerParts);
        headerParts = [];
        headerBytes = 0;
        yield* startFrame(line);
        continue;
      }
      const take = Math.min(remaining, chunk.length - pos);
      yield { kind: 'bytes', chunk: chunk.subarray(pos, pos + take) };
      pos += take;
      remaining -= take;
      if (remaining === 0) yield* endFrame();
    }
  }
  if (index < count) {
    throw new FramingError(
      `the body ended inside frame ${index + 1} of ${count} (the batch was cut short)`,
    );
  }
}
