/**
 * Client-side rate limiting per target and model: token buckets for requests and tokens per
 * minute, a bounded FIFO queue of waiters, and AIMD adaptation when upstream throttles.
 *
 * Bedrock's quota system reserves input tokens plus `max_tokens` when it admits a request and
 * corrects the count once the real usage is known; the token bucket does the same (`acquire`
 * takes the estimate, `Reservation.settle` gives back what was not used), so the client's idea of
 * the budget tracks the server's instead of drifting pessimistic.
 *
 * Buckets refill continuously rather than per window: a burst of one minute's worth is allowed,
 * then admission is paced evenly, which is what keeps a throttled account from oscillating.
 */
import { setTimeout as delay } from "node:timers/promises";

const MINUTE_MS = 60_000;
/** Float slack: continuous refill with rates like 34.3/min never lands exactly on whole numbers. */
const EPSILON = 1e-6;
/** AIMD: each throttle keeps 70% of the current rate. */
const DECREASE_FACTOR = 0.7;
/** AIMD: each success adds back 5% of the configured rate. */
const INCREASE_FRACTION = 0.05;
/** The request rate never falls below one per minute, so a throttled target still gets probes. */
const MIN_RPM = 1;
/** The token rate never falls below 1% of the configured one, for the same reason. */
const MIN_TPM_FRACTION = 0.01;
const DEFAULT_MAX_QUEUE = 100;
const DEFAULT_MAX_WAIT_MS = 30_000;

/** Client-side limits for one target and model. A limit without `rpm` and `tpm` limits nothing. */
export interface RateLimit {
  /** Requests per minute. */
  rpm?: number;
  /** Tokens per minute: input estimate plus max_tokens reserved at admission, settled with the real usage. */
  tpm?: number;
  /** Requests waiting at most (default 100); past that, acquire() rejects at once. */
  maxQueue?: number;
  /** Longest wait in the queue, ms (default 30_000). */
  maxWaitMs?: number;
}

/** Time as the limiter sees it; injected so tests drive it with a fake clock. */
export interface Clock {
  /** Milliseconds since some fixed origin (only differences matter). */
  now(): number;
  /** Resolves after `ms`; rejects (with the signal's reason) once `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock: `Date.now` and an abortable timer. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: async (ms, signal) => {
    try {
      await delay(ms, undefined, signal ? { signal } : undefined);
    } catch (error) {
      // Node rejects with its own AbortError; callers expect the reason they aborted with.
      throw signal?.aborted ? signal.reason : error;
    }
  },
};

/** Why the limiter refused a request without sending it. */
export type RateLimitedCode = "queue_full" | "wait_exceeded" | "too_large";

/**
 * The limiter refused a request before it went out: the queue was full, the wait would exceed
 * `maxWaitMs`, or the request needs more tokens than a whole minute's budget.
 */
export class RateLimitedError extends Error {
  override readonly name = "RateLimitedError";
  constructor(
    /** Stable reason, for callers and metrics. */
    readonly code: RateLimitedCode,
    message: string,
    /** Estimated wait before the request could be admitted, when there is one. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Capacity taken by an admitted request, corrected once the real usage is known. */
export interface Reservation {
  /** Returns unused reserved tokens (or takes more) once the real usage is known. */
  settle(actualTokens: number): void;
  /** Gives everything back (the request never went out). */
  release(): void;
}

/** What the limiter currently allows and holds. */
export interface RateLimiterStats {
  /** Current (adapted) requests per minute; undefined when requests are not limited. */
  rpm: number | undefined;
  /** Current (adapted) tokens per minute; undefined when tokens are not limited. */
  tpm: number | undefined;
  /** Requests waiting in the queue. */
  queued: number;
  /** Requests that could be admitted now (fractional while refilling; Infinity when unlimited). */
  availableRequests: number;
  /** Tokens that could be taken now (negative while a settled overrun is paid back; Infinity when unlimited). */
  availableTokens: number;
}

/** Milliseconds until a bucket refilling at `rate` per minute holds `needed`, from `available`. */
function msToReach(rate: number, available: number, needed: number): number {
  const deficit = needed - available;
  if (deficit <= EPSILON) return 0;
  // Whole milliseconds, rounded up, so that waking at that time finds the amount there.
  return Math.ceil((deficit * MINUTE_MS) / rate - EPSILON);
}

/** One dimension of the limit: a bucket refilling continuously, holding one minute at the current rate. */
class Bucket {
  /** Current per-minute rate, which is also the capacity. */
  rate: number;
  available: number;
  private refilledAt: number;

  constructor(
    /** The configured per-minute rate: the ceiling adaptation climbs back to. */
    readonly limit: number,
    now: number,
  ) {
    this.rate = limit;
    this.available = limit; // A fresh limiter starts full.
    this.refilledAt = now;
  }

  refill(now: number): void {
    // Math.max: a wall clock stepping backwards must not drain the bucket.
    const elapsed = Math.max(0, now - this.refilledAt);
    this.refilledAt = now;
    this.available = Math.min(this.rate, this.available + (elapsed * this.rate) / MINUTE_MS);
  }

  /**
   * What must be available to take `amount`. A request larger than the current (throttled)
   * capacity but within the configured limit would otherwise never fit; it goes out once the
   * bucket is full and leaves it in debt, which the refill then pays back.
   */
  needed(amount: number): number {
    return Math.min(amount, this.rate);
  }

  take(amount: number): void {
    this.available -= amount;
  }

  giveBack(amount: number): void {
    this.available = Math.min(this.rate, this.available + amount);
  }

  setRate(rate: number): void {
    this.rate = rate;
    // A lower rate means a smaller capacity: a burst at the old size is what got us throttled.
    this.available = Math.min(this.available, rate);
  }
}

interface Waiter {
  readonly tokens: number;
  /** Clock time after which the waiter is refused with `wait_exceeded`. */
  readonly deadline: number;
  readonly resolve: (reservation: Reservation) => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/**
 * Token buckets for requests and tokens per minute, with a bounded FIFO queue and AIMD
 * adaptation (multiplicative decrease on throttling, additive increase on success).
 */
export class AdaptiveRateLimiter {
  private readonly requests: Bucket | undefined;
  private readonly tokens: Bucket | undefined;
  private readonly maxQueue: number;
  private readonly maxWaitMs: number;
  private readonly queue: Waiter[] = [];
  /** The one pending timer, for the head of the queue; aborted whenever the state changes. */
  private timer: AbortController | undefined;

  constructor(
    limit: RateLimit,
    private readonly clock: Clock = systemClock,
  ) {
    const positive = (name: string, value: number | undefined): void => {
      if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
        throw new RangeError(`Rate limit ${name} must be a positive number, got ${value}.`);
      }
    };
    positive("rpm", limit.rpm);
    positive("tpm", limit.tpm);
    this.maxQueue = limit.maxQueue ?? DEFAULT_MAX_QUEUE;
    this.maxWaitMs = limit.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
    if (!(Number.isInteger(this.maxQueue) && this.maxQueue >= 0)) {
      throw new RangeError(`Rate limit maxQueue must be a whole number >= 0, got ${limit.maxQueue}.`);
    }
    if (!(this.maxWaitMs >= 0)) {
      throw new RangeError(`Rate limit maxWaitMs must be >= 0, got ${limit.maxWaitMs}.`);
    }
    const now = clock.now();
    this.requests = limit.rpm === undefined ? undefined : new Bucket(limit.rpm, now);
    this.tokens = limit.tpm === undefined ? undefined : new Bucket(limit.tpm, now);
  }

  /**
   * Waits (FIFO) until one request and `tokens` fit, then takes them. Rejects with
   * RateLimitedError (queue full, would wait longer than maxWaitMs: say so immediately when the
   * computed wait already exceeds it, or tokens larger than the whole per-minute budget:
   * "too_large"), or with the signal's reason when aborted (and leaves the queue).
   */
  acquire(tokens: number, signal?: AbortSignal): Promise<Reservation> {
    if (!(Number.isFinite(tokens) && tokens >= 0)) {
      return Promise.reject(new RangeError(`Tokens to acquire must be a number >= 0, got ${tokens}.`));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.tokens && tokens > this.tokens.limit) {
      return Promise.reject(
        new RateLimitedError(
          "too_large",
          `The request needs ${tokens} tokens, more than the whole budget of ${this.tokens.limit} tokens per minute.`,
        ),
      );
    }
    const now = this.clock.now();
    this.refill(now);
    // Only when nobody waits: jumping the queue would starve a large request behind small ones.
    if (this.queue.length === 0 && this.fits(tokens)) return Promise.resolve(this.take(tokens));

    const wait = this.estimateWait(tokens);
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(
        new RateLimitedError(
          "queue_full",
          `Rate limit queue is full (${this.maxQueue} requests waiting).`,
          wait,
        ),
      );
    }
    if (wait > this.maxWaitMs) {
      return Promise.reject(
        new RateLimitedError(
          "wait_exceeded",
          `Rate limit would delay the request ${wait} ms, more than the ${this.maxWaitMs} ms allowed.`,
          wait,
        ),
      );
    }
    return new Promise<Reservation>((resolve, reject) => {
      const waiter: Waiter = {
        tokens,
        deadline: now + this.maxWaitMs,
        resolve,
        reject,
        signal,
        onAbort: () => this.abandon(waiter),
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.queue.push(waiter);
      // Behind someone, the head's timer already runs; wake-ups serve the queue in order.
      if (this.queue.length === 1) this.pump();
    });
  }

  /** Upstream throttled: multiplicative decrease of the current rates (x0.7, never below 1 rpm / 1% of tpm). */
  onThrottle(): void {
    this.adapt((bucket, floor) => Math.max(floor, bucket.rate * DECREASE_FACTOR));
  }

  /** Upstream accepted a request: additive increase back toward the configured limits (+5% of the configured rate per success). */
  onSuccess(): void {
    this.adapt((bucket) => Math.min(bucket.limit, bucket.rate + bucket.limit * INCREASE_FRACTION));
  }

  /** Current rates, queue length and what could be admitted now. */
  stats(): RateLimiterStats {
    this.refill(this.clock.now());
    return {
      rpm: this.requests?.rate,
      tpm: this.tokens?.rate,
      queued: this.queue.length,
      availableRequests: this.requests?.available ?? Number.POSITIVE_INFINITY,
      availableTokens: this.tokens?.available ?? Number.POSITIVE_INFINITY,
    };
  }

  private adapt(next: (bucket: Bucket, floor: number) => number): void {
    // Credit the time elapsed at the old rate before changing it.
    this.refill(this.clock.now());
    this.requests?.setRate(next(this.requests, Math.min(MIN_RPM, this.requests.limit)));
    this.tokens?.setRate(next(this.tokens, this.tokens.limit * MIN_TPM_FRACTION));
    this.pump();
  }

  /** The buckets a request of `tokens` draws on, with the amount it takes from each. */
  private demands(tokens: number): Array<[Bucket, number]> {
    const demands: Array<[Bucket, number]> = [];
    if (this.requests) demands.push([this.requests, 1]);
    if (this.tokens) demands.push([this.tokens, tokens]);
    return demands;
  }

  private refill(now: number): void {
    this.requests?.refill(now);
    this.tokens?.refill(now);
  }

  private fits(tokens: number): boolean {
    return this.demands(tokens).every(
      ([bucket, amount]) => bucket.available + EPSILON >= bucket.needed(amount),
    );
  }

  private msUntilFits(tokens: number): number {
    let ms = 0;
    for (const [bucket, amount] of this.demands(tokens)) {
      ms = Math.max(ms, msToReach(bucket.rate, bucket.available, bucket.needed(amount)));
    }
    return ms;
  }

  /**
   * How long a newcomer asking for `tokens` would wait behind the current queue, at the current
   * rates: each waiter in turn waits until it fits in every bucket, then takes its share.
   * Exact unless the rates change or reservations settle meanwhile.
   */
  private estimateWait(tokens: number): number {
    const available = new Map<Bucket, number>();
    for (const [bucket] of this.demands(0)) available.set(bucket, bucket.available);
    let total = 0;
    for (const amountOfTokens of [...this.queue.map((waiter) => waiter.tokens), tokens]) {
      const demands = this.demands(amountOfTokens);
      let step = 0;
      for (const [bucket, amount] of demands) {
        step = Math.max(step, msToReach(bucket.rate, available.get(bucket)!, bucket.needed(amount)));
      }
      total += step;
      for (const [bucket, amount] of demands) {
        const refilled = Math.min(bucket.rate, available.get(bucket)! + (step * bucket.rate) / MINUTE_MS);
        available.set(bucket, refilled - amount);
      }
    }
    return total;
  }

  private take(tokens: number): Reservation {
    for (const [bucket, amount] of this.demands(tokens)) bucket.take(amount);
    let done = false;
    return {
      settle: (actualTokens) => {
        if (!(Number.isFinite(actualTokens) && actualTokens >= 0)) {
          throw new RangeError(`Actual tokens must be a number >= 0, got ${actualTokens}.`);
        }
        // Once only: a second settle (or a release after settle) must not return tokens twice.
        if (done) return;
        done = true;
        if (!this.tokens) return;
        this.tokens.refill(this.clock.now());
        if (actualTokens < tokens) this.tokens.giveBack(tokens - actualTokens);
        else this.tokens.take(actualTokens - tokens);
        this.pump();
      },
      release: () => {
        if (done) return;
        done = true;
        this.refill(this.clock.now());
        for (const [bucket, amount] of this.demands(tokens)) bucket.giveBack(amount);
        this.pump();
      },
    };
  }

  /** A waiter's signal aborted: it leaves the queue, and the one behind it may now go first. */
  private abandon(waiter: Waiter): void {
    const index = this.queue.indexOf(waiter);
    if (index < 0) return;
    this.queue.splice(index, 1);
    waiter.reject(waiter.signal?.reason);
    if (index === 0) this.pump();
  }

  /** A waiter leaving the queue no longer listens to its signal (a long-lived signal would keep it alive). */
  private detach(waiter: Waiter): void {
    waiter.signal?.removeEventListener("abort", waiter.onAbort);
  }

  /**
   * Serves the queue from the head: admits every waiter that fits, refuses a head past its
   * deadline, then sets one timer for when the head fits or expires. Called whenever capacity
   * or rates change, so the timer always reflects the current state.
   */
  private pump(): void {
    this.cancelTimer();
    const now = this.clock.now();
    this.refill(now);
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (this.fits(head.tokens)) {
        this.queue.shift();
        this.detach(head);
        head.resolve(this.take(head.tokens));
      } else if (now >= head.deadline) {
        // Waiters behind share maxWaitMs and came later, so only the head can be past its deadline.
        this.queue.shift();
        this.detach(head);
        head.reject(
          new RateLimitedError(
            "wait_exceeded",
            `Rate limit delayed the request past the ${this.maxWaitMs} ms allowed (the rate dropped while it waited).`,
            this.msUntilFits(head.tokens),
          ),
        );
      } else {
        break;
      }
    }
    const head = this.queue[0];
    if (head) this.startTimer(Math.min(this.msUntilFits(head.tokens), head.deadline - now));
  }

  private startTimer(ms: number): void {
    const controller = new AbortController();
    this.timer = controller;
    const wake = (): void => {
      // A cancelled timer is no longer `this.timer`: a newer pump owns the schedule.
      if (this.timer !== controller) return;
      this.timer = undefined;
      this.pump();
    };
    // On rejection too: a clock whose sleep fails must not strand the queue.
    this.clock.sleep(ms, controller.signal).then(wake, wake);
  }

  private cancelTimer(): void {
    const timer = this.timer;
    this.timer = undefined;
    timer?.abort();
  }
}

/** One AdaptiveRateLimiter per target and model, created on first use from the configured limits. */
export class RateLimiterRegistry {
  /** Undefined entries too: the limits function is asked once per target and model. */
  private readonly limiters = new Map<string, AdaptiveRateLimiter | undefined>();

  constructor(
    private readonly limits: (target: string, model: string) => RateLimit | undefined,
    private readonly clock: Clock = systemClock,
  ) {}

  /** One limiter per target and model, created on first use; undefined when no limit applies. */
  get(target: string, model: string): AdaptiveRateLimiter | undefined {
    // JSON keeps ("a:b", "c") and ("a", "b:c") apart, whatever characters the names hold.
    const key = JSON.stringify([target, model]);
    if (this.limiters.has(key)) return this.limiters.get(key);
    const limit = this.limits(target, model);
    const limiter =
      limit && (limit.rpm !== undefined || limit.tpm !== undefined)
        ? new AdaptiveRateLimiter(limit, this.clock)
        : undefined;
    this.limiters.set(key, limiter);
    return limiter;
  }
}
