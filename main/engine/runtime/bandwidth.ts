// The bandwidthLimit setting, parsed for the uploader (whose throttle alone follows the
// timetable: vault/throttle.ts).
//
// Invariant: an invalid limit is logged and means "no limit", never a stopped engine.
import type { Logger } from '../ports.js';
import { parseBandwidthLimit, type BandwidthPolicy } from '../vault/bandwidth.js';

export function bandwidthPolicyOf(text: string | null, logger: Logger): BandwidthPolicy | null {
  try {
    return text === null ? null : parseBandwidthLimit(text);
  } catch (err) {
    logger.warn('ignoring an invalid bandwidth limit', { error: String(err) });
    return null;
  }
}
