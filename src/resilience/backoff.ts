/**
 * Exponential backoff with full jitter: a random delay between 0 and min(cap, base * 2^attempt)
 * (AWS Architecture Blog, "Exponential Backoff and Jitter"; the AWS SDKs do the same). Full
 * jitter spreads retries out, so a throttling blip does not come back as a synchronised storm.
 */
export interface BackoffOptions {
  /** First retry's ceiling, ms. */
  baseMs: number;
  /** Largest delay, ms. */
  capMs: number;
}

/** The delay before retry number `attempt` (0 for the first retry). */
export function fullJitterDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
