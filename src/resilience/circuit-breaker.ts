/**
 * A circuit breaker per target. Closed: requests flow, outcomes are counted. Open (after
 * `consecutiveFailures` failures in a row, or an error rate of `errorRate` over at least
 * `minRequests` in the window): requests skip the target. After `openMs` it lets probes through
 * (half-open), up to `halfOpenProbes` at a time; a probe's success closes it, a failure opens it
 * again for twice as long (up to `maxOpenMs`). Throttling does not count: it is a quota signal,
 * which the rate limiter handles.
 */
export type BreakerState = "closed" | "open" | "half-open";

export interface CircuitBreakerOptions {
  consecutiveFailures?: number;
  errorRate?: number;
  minRequests?: number;
  windowMs?: number;
  openMs?: number;
  maxOpenMs?: number;
  halfOpenProbes?: number;
}

const DEFAULTS: Required<CircuitBreakerOptions> = {
  consecutiveFailures: 5,
  errorRate: 0.5,
  minRequests: 20,
  windowMs: 30_000,
  openMs: 15_000,
  maxOpenMs: 120_000,
  halfOpenProbes: 1,
};

export class CircuitBreaker {
  private readonly options: Required<CircuitBreakerOptions>;
  private state: BreakerState = "closed";
  private consecutive = 0;
  private outcomes: { time: number; ok: boolean }[] = [];
  private openedAt = 0;
  private openFor: number;
  private probes = 0;

  constructor(
    options: CircuitBreakerOptions = {},
    private readonly now: () => number = Date.now,
    private readonly onChange?: (state: BreakerState) => void,
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.openFor = this.options.openMs;
  }

  /** The state now (an open breaker whose time is up reports half-open). */
  current(): BreakerState {
    if (this.state === "open" && this.now() - this.openedAt >= this.openFor) {
      // Late reports from an earlier half-open period must not eat this period's probes.
      this.probes = 0;
      this.set("half-open");
    }
    return this.state;
  }

  /**
   * Whether a request may go to the target now. In half-open, true only for the allowed number of
   * probes in flight; the caller must then report the outcome.
   */
  allow(): boolean {
    const state = this.current();
    if (state === "closed") return true;
    if (state === "open") return false;
    if (this.probes >= this.options.halfOpenProbes) return false;
    this.probes++;
    return true;
  }

  /** Whether the allowed request was a half-open probe. */
  get probing(): boolean {
    return this.state === "half-open";
  }

  success(): void {
    this.consecutive = 0;
    this.record(true);
    if (this.state === "half-open") {
      this.probes = Math.max(0, this.probes - 1);
      this.openFor = this.options.openMs;
      this.outcomes = [];
      this.set("closed");
    }
  }

  failure(): void {
    this.consecutive++;
    this.record(false);
    if (this.state === "half-open") {
      this.probes = Math.max(0, this.probes - 1);
      this.openFor = Math.min(this.openFor * 2, this.options.maxOpenMs);
      this.trip();
      return;
    }
    if (this.state !== "closed") return;
    const failed = this.outcomes.filter((o) => !o.ok).length;
    const rateTripped =
      this.outcomes.length >= this.options.minRequests &&
      failed / this.outcomes.length >= this.options.errorRate;
    if (this.consecutive >= this.options.consecutiveFailures || rateTripped) this.trip();
  }

  /** A request that went out but whose outcome says nothing about health (throttling, a 4xx). */
  neutral(): void {
    if (this.state === "half-open") this.probes = Math.max(0, this.probes - 1);
  }

  /** Opens it now (the drill's way to rehearse a failover against real endpoints). */
  forceOpen(ms?: number): void {
    if (ms !== undefined) this.openFor = ms;
    this.trip();
  }

  private trip(): void {
    this.openedAt = this.now();
    this.consecutive = 0;
    this.set("open");
  }

  private record(ok: boolean): void {
    const t = this.now();
    this.outcomes.push({ time: t, ok });
    const horizon = t - this.options.windowMs;
    while (this.outcomes.length > 0 && this.outcomes[0]!.time < horizon) this.outcomes.shift();
  }

  private set(state: BreakerState): void {
    if (this.state === state) return;
    this.state = state;
    this.onChange?.(state);
  }
}
