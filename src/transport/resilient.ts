/**
 * The attempt loop: the ordered chain of targets, retries with full-jitter backoff under a retry
 * budget, circuit breakers, client-side limits, and the record of every attempt. A response is
 * only retried before anything reached the caller: a stream is checked up to its first event,
 * then handed over, and an error after that arrives as an SSE error event, never as a duplicate.
 */
import { channel } from "node:diagnostics_channel";
import { fullJitterDelay } from "../resilience/backoff.js";
import { type BreakerState, CircuitBreaker } from "../resilience/circuit-breaker.js";
import { classify, isThrottle, networkCodeOf, type Outcome, type Verdict } from "../resilience/classify.js";
import { limitFor, RETRY_DEFAULTS, type ResiliencePolicy } from "../resilience/policy.js";
import { RateLimitedError, RateLimiterRegistry, type Reservation } from "../resilience/rate-limiter.js";
import { retryAfterMs } from "../resilience/retry-after.js";
import { RetryBudget } from "../resilience/retry-budget.js";
import { errorResponse } from "./responses.js";
import { peekFirstChunk } from "./source-stream.js";
import type { Target } from "./target.js";

/** One upstream attempt, as logs, response headers and the ledger see it. */
export interface AttemptRecord {
  target: string;
  provider: string;
  region: string;
  /** 1-based, across the chain. */
  attempt: number;
  status: number | null;
  errorName: string | null;
  /** What the loop did next. */
  verdict: Verdict | "skipped";
  latencyMs: number;
  /** Why a target was skipped (open breaker) or failed without a response. */
  note?: string;
}

/** Subscribers (metrics, ledger, logs) get every attempt: `diagnostics_channel.subscribe(ATTEMPT_CHANNEL, fn)`. */
export const ATTEMPT_CHANNEL = "bedrock-claude:attempt";
const attemptChannel = channel(ATTEMPT_CHANNEL);

export interface TargetHealth {
  breaker: CircuitBreaker | undefined;
  budget: RetryBudget;
}

export interface ResilienceState {
  policy: ResiliencePolicy;
  health: Map<string, TargetHealth>;
  limiters: RateLimiterRegistry;
  now: () => number;
  random: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  onAttempt?: (attempt: AttemptRecord) => void;
  onBreakerChange?: (target: string, state: BreakerState) => void;
}

export function healthOf(state: ResilienceState, name: string): TargetHealth {
  let health = state.health.get(name);
  if (!health) {
    const breakerOptions = state.policy.breaker;
    health = {
      breaker:
        breakerOptions === false
          ? undefined
          : new CircuitBreaker(breakerOptions ?? {}, state.now, (s) => state.onBreakerChange?.(name, s)),
      budget: new RetryBudget(state.policy.retry?.budget, state.now),
    };
    state.health.set(name, health);
  }
  return health;
}

export interface AttemptPlan {
  targets: Target[];
  /** Model name for limits (as the caller asked for it). */
  model: string;
  /** Tokens to reserve with a limiter: input estimate plus max_tokens. */
  tokens: number;
  /** Whether the answer is a stream (checked up to its first event before it is handed over). */
  stream: boolean;
  signal: AbortSignal | undefined;
  send: (target: Target, signal: AbortSignal | undefined) => Promise<Response>;
  /** Receives every attempt record (the ledger keeps them). */
  records?: AttemptRecord[];
}

function attemptsHeader(records: AttemptRecord[]): string {
  return records
    .map((r) =>
      [
        r.target,
        r.verdict === "skipped" ? "skipped" : (r.status ?? "error"),
        r.errorName ?? r.note,
        `${r.latencyMs}ms`,
      ]
        .filter(Boolean)
        .join(" "),
    )
    .join("; ");
}

function withAttempts(response: Response, records: AttemptRecord[]): Response {
  const value = attemptsHeader(records);
  // The transport's own responses have mutable headers: set it in place rather than make a new
  // Response around the body (a new web stream per call, measured on the hot path).
  try {
    response.headers.set("x-bedrock-claude-attempts", value);
    return response;
  } catch {
    const headers = new Headers(response.headers);
    headers.set("x-bedrock-claude-attempts", value);
    return new Response(response.body, { status: response.status, headers });
  }
}

/**
 * For a stream answered 200, the status its first chunk stands for when that chunk is an SSE
 * `error` (an exception frame before any event is still retryable). Every stream the transport
 * hands on is a source stream: it is peeked at, not read, so the same Response goes on and the
 * ledger watches the same stream.
 */
async function firstEventErrorStatus(response: Response): Promise<number | undefined> {
  const peeked = peekFirstChunk(response.body);
  if (!peeked) return undefined;
  const first = await peeked;
  const text = first ? new TextDecoder().decode(first.subarray(0, 512)) : "";
  if (!text.startsWith("event: error")) return undefined;
  const type = /"type":"error","error":\{"type":"(\w+)"/.exec(text)?.[1];
  return type === "rate_limit_error"
    ? 429
    : type === "overloaded_error"
      ? 529
      : type === "invalid_request_error"
        ? 400
        : 500;
}

/** Tokens a JSON answer used, from the token-count headers the transport passes on (InvokeModel's). */
function usedTokens(headers: Headers): number | undefined {
  const input = headers.get("x-amzn-bedrock-input-token-count");
  const output = headers.get("x-amzn-bedrock-output-token-count");
  if (input === null || output === null) return undefined;
  const cached = Number(headers.get("x-amzn-bedrock-cache-write-input-token-count") ?? 0);
  return Number(input) + Number(output) + cached;
}

function outcomeOf(response: Response): Outcome {
  return { status: response.status, errorName: response.headers.get("x-amzn-errortype") ?? undefined };
}

/** Runs the attempts of one request over the chain. */
export async function runAttempts(state: ResilienceState, plan: AttemptPlan): Promise<Response> {
  const retry = { ...RETRY_DEFAULTS, ...state.policy.retry };
  const records: AttemptRecord[] = plan.records ?? [];
  const started = state.now();
  let lastResponse: Response | undefined;
  let lastError: unknown;
  let attempt = 0;
  const record = (
    target: Target,
    entry: Omit<AttemptRecord, "attempt" | "target" | "provider" | "region">,
  ) => {
    const full = { target: target.name, provider: target.provider, region: target.region, ...entry, attempt };
    records.push(full);
    state.onAttempt?.(full);
    if (attemptChannel.hasSubscribers) attemptChannel.publish(full);
  };

  for (const [index, target] of plan.targets.entries()) {
    const isLast = index === plan.targets.length - 1;
    const health = healthOf(state, target.name);
    health.budget.recordRequest();
    let onTarget = 0;
    let retryDelay = 0;
    while (attempt < retry.maxAttempts) {
      if (!isLast && onTarget >= retry.maxAttemptsPerTarget) break;
      if (onTarget > 0) {
        if (!health.budget.tryRetry()) break;
        const delay = Math.max(retryDelay, fullJitterDelay(onTarget - 1, retry, state.random));
        if (state.now() + delay - started > retry.deadlineMs) break;
        await state.sleep(delay, plan.signal);
      }
      if (health.breaker && !health.breaker.allow()) {
        record(target, {
          status: null,
          errorName: null,
          verdict: "skipped",
          latencyMs: 0,
          note: "circuit open",
        });
        break;
      }
      attempt++;
      onTarget++;
      const limiter = state.limiters.get(target.name, plan.model);
      let reservation: Reservation | undefined;
      const t0 = state.now();
      try {
        reservation = limiter ? await limiter.acquire(plan.tokens, plan.signal) : undefined;
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        health.breaker?.neutral();
        record(target, {
          status: 429,
          errorName: null,
          verdict: "failover",
          latencyMs: state.now() - t0,
          note: `client limit: ${error.code}`,
        });
        lastResponse = errorResponse(
          "rate_limit_error",
          `Client-side limit for ${target.name}: ${error.message}`,
        );
        break;
      }
      let response: Response;
      try {
        response = await plan.send(target, plan.signal);
      } catch (error) {
        reservation?.release();
        if (plan.signal?.aborted) {
          // The caller gave up: this says nothing about the target, but a probe slot must be freed.
          health.breaker?.neutral();
          throw error;
        }
        const networkCode = networkCodeOf(error) ?? "UND_ERR_SOCKET";
        const verdict = classify({ networkCode });
        health.breaker?.failure();
        record(target, {
          status: null,
          errorName: null,
          verdict,
          latencyMs: state.now() - t0,
          note: networkCode,
        });
        lastError = error;
        lastResponse = undefined;
        if (verdict === "retry") continue;
        break;
      }
      let outcome = outcomeOf(response);
      if (plan.stream && response.ok) {
        try {
          const errorStatus = await firstEventErrorStatus(response);
          if (errorStatus !== undefined) outcome = { status: errorStatus };
        } catch (error) {
          // The stream broke (or the caller aborted) before its first event.
          reservation?.release();
          health.breaker?.neutral();
          throw error;
        }
      }
      const verdict = classify(outcome);
      const latencyMs = state.now() - t0;
      record(target, {
        status: outcome.status ?? null,
        errorName: outcome.errorName ?? null,
        verdict,
        latencyMs,
      });
      if (verdict === "success") {
        health.breaker?.success();
        limiter?.onSuccess();
        reservation?.settle(usedTokens(response.headers) ?? plan.tokens);
        return withAttempts(response, records);
      }
      if (isThrottle(outcome)) {
        limiter?.onThrottle();
        health.breaker?.neutral();
      } else if (verdict === "fatal") health.breaker?.neutral();
      else health.breaker?.failure();
      reservation?.release();
      if (verdict === "fatal") return withAttempts(response, records);
      // This answer will not reach the caller: free its connection.
      await lastResponse?.body?.cancel().catch(() => undefined);
      lastResponse = response;
      lastError = undefined;
      retryDelay = retryAfterMs(response.headers, state.now()) ?? 0;
      if (verdict === "failover") break;
    }
  }
  if (lastResponse) return withAttempts(lastResponse, records);
  if (lastError) throw lastError;
  const skipped = records.filter((r) => r.verdict === "skipped").map((r) => r.target);
  return withAttempts(
    errorResponse(
      "overloaded_error",
      `No target could take the request: ${skipped.length > 0 ? `circuit open for ${skipped.join(", ")}` : "attempts exhausted"}. The breakers let a probe through again shortly.`,
    ),
    records,
  );
}

/** A limiter registry for a policy. */
export function limitersFor(policy: ResiliencePolicy): RateLimiterRegistry {
  return new RateLimiterRegistry((target, model) => limitFor(policy, target, model));
}
