/**
 * The resilience policy: retries, failover, breakers, limits and timeouts, with their defaults.
 * Configurable in code (`createClient({ resilience })`) and in the config file.
 */
import type { UpstreamTimeouts } from "../transport/upstream.js";
import type { CircuitBreakerOptions } from "./circuit-breaker.js";
import type { RateLimit } from "./rate-limiter.js";
import type { RetryBudgetOptions } from "./retry-budget.js";

export interface RetryPolicy {
  /** Attempts per request, across the whole chain (default 8). */
  maxAttempts?: number;
  /** Attempts on a target before failing over when other targets remain (default 2). */
  maxAttemptsPerTarget?: number;
  /** Full-jitter backoff: first retry's ceiling (default 100 ms) and largest delay (default 20 s). */
  baseMs?: number;
  capMs?: number;
  /** No new attempt starts this long after the first (default 60 s). */
  deadlineMs?: number;
  budget?: RetryBudgetOptions;
}

export interface TimeoutPolicy extends UpstreamTimeouts {
  /** The whole exchange, retries and streaming included (default 10 minutes, as the Anthropic SDK). */
  totalMs?: number;
}

export interface ResiliencePolicy {
  retry?: RetryPolicy;
  /** Per-target circuit breakers; `false` turns them off. */
  breaker?: CircuitBreakerOptions | false;
  timeouts?: TimeoutPolicy;
  /**
   * Client-side limits per target and model. Keys: `"{target name}"`, `"{target name} {model}"` or
   * `"*"` (most specific wins); or a function.
   */
  limits?: Record<string, RateLimit> | ((target: string, model: string) => RateLimit | undefined);
}

export const RETRY_DEFAULTS = {
  maxAttempts: 8,
  maxAttemptsPerTarget: 2,
  baseMs: 100,
  capMs: 20_000,
  deadlineMs: 60_000,
} as const;

export const TOTAL_TIMEOUT_DEFAULT_MS = 10 * 60_000;

/** The limit for a target and model from the policy's table or function. */
export function limitFor(policy: ResiliencePolicy, target: string, model: string): RateLimit | undefined {
  const { limits } = policy;
  if (!limits) return undefined;
  if (typeof limits === "function") return limits(target, model);
  return limits[`${target} ${model}`] ?? limits[target] ?? limits["*"];
}
