/**
 * A retry budget over a sliding window: retries may add at most `ratio` extra attempts per
 * request on average (plus a small floor so a quiet client can still retry). A dead upstream then
 * sees at most (1 + ratio) times the offered load, not maxAttempts times; 30% throttling needs
 * about 0.43 retries per request, well inside the default ratio of 1.
 */
export interface RetryBudgetOptions {
  /** Extra attempts allowed per request over the window (default 1). */
  ratio?: number;
  /** Retries always allowed per window (default 10). */
  minRetries?: number;
  /** Window length, ms (default 10 s). */
  windowMs?: number;
}

const BUCKETS = 10;

export class RetryBudget {
  private readonly ratio: number;
  private readonly minRetries: number;
  private readonly bucketMs: number;
  private readonly requests = new Array<number>(BUCKETS).fill(0);
  private readonly retries = new Array<number>(BUCKETS).fill(0);
  private bucketStart = 0;
  private current = 0;

  constructor(
    options: RetryBudgetOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.ratio = options.ratio ?? 1;
    this.minRetries = options.minRetries ?? 10;
    this.bucketMs = (options.windowMs ?? 10_000) / BUCKETS;
  }

  private rotate(): void {
    const t = this.now();
    if (this.bucketStart === 0) this.bucketStart = t;
    let steps = Math.floor((t - this.bucketStart) / this.bucketMs);
    if (steps <= 0) return;
    this.bucketStart += steps * this.bucketMs;
    steps = Math.min(steps, BUCKETS);
    for (let i = 0; i < steps; i++) {
      this.current = (this.current + 1) % BUCKETS;
      this.requests[this.current] = 0;
      this.retries[this.current] = 0;
    }
  }

  /** Counts a new request. */
  recordRequest(): void {
    this.rotate();
    this.requests[this.current]!++;
  }

  /** Takes one retry from the budget; false when the budget is spent. */
  tryRetry(): boolean {
    this.rotate();
    const requests = this.requests.reduce((a, b) => a + b, 0);
    const retries = this.retries.reduce((a, b) => a + b, 0);
    if (retries >= this.minRetries + this.ratio * requests) return false;
    this.retries[this.current]!++;
    return true;
  }
}
