// Retry delays: exponential backoff with jitter ("Exponential Backoff And Jitter", AWS
// architecture blog), so many files failing at once do not retry in lockstep. The one backoff
// of the engine: the upload queue, the uploader's in-place retries and the metadata pump all
// use backoffDelay, each with its own policy.
// Invariant: the delay for attempt n lies in [baseMs * 2^(n-1) / 2, min(maxMs, baseMs * 2^(n-1))].

export interface BackoffPolicy {
  /** Delay ceiling for the first retry, ms. */
  baseMs: number;
  /** Largest delay, ms. */
  maxMs: number;
  /** Failed attempts after which a file is marked failed. */
  maxAttempts: number;
}

export const defaultBackoff: BackoffPolicy = { baseMs: 2_000, maxMs: 5 * 60_000, maxAttempts: 6 };

/** Delay before retry number `attempt` (1 = first retry). `random` returns [0, 1). */
export function backoffDelay(
  policy: BackoffPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  // Half fixed, half jitter: never retries immediately, never all at once.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
