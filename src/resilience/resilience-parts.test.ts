/**
 * The small pure parts of the resilience layer, driven by a fake clock and seeded randomness:
 * full-jitter backoff, Retry-After parsing, the classification tables, the retry budget and the
 * circuit breaker. (The rate limiter has its own file; the whole loop is tested over HTTP in
 * test/resilience.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { seededRandom } from "../util/random.js";
import { fullJitterDelay } from "./backoff.js";
import { type BreakerState, CircuitBreaker, type CircuitBreakerOptions } from "./circuit-breaker.js";
import {
  classify,
  FAILOVER_EXCEPTIONS,
  FAILOVER_STATUS,
  isThrottle,
  networkCodeOf,
  RETRYABLE_EXCEPTIONS,
  RETRYABLE_NETWORK_CODES,
  RETRYABLE_STATUS,
} from "./classify.js";
import { limitFor } from "./policy.js";
import { retryAfterMs } from "./retry-after.js";
import { RetryBudget } from "./retry-budget.js";

/** A clock that moves only when told; starts far from 0 like a real one. */
function fakeClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return {
    now: () => time,
    advance: (ms) => {
      time += ms;
    },
  };
}

describe("fullJitterDelay", () => {
  const options = { baseMs: 100, capMs: 20_000 };

  it("is 0 at the bottom of the range and just under the ceiling at the top", () => {
    for (let attempt = 0; attempt < 8; attempt++) {
      const ceiling = Math.min(20_000, 100 * 2 ** attempt);
      expect(fullJitterDelay(attempt, options, () => 0)).toBe(0);
      expect(fullJitterDelay(attempt, options, () => 0.999_999_9)).toBe(ceiling - 1);
    }
  });

  it("doubles the ceiling per attempt: base * 2^attempt", () => {
    const half = () => 0.5;
    expect(fullJitterDelay(0, options, half)).toBe(50);
    expect(fullJitterDelay(1, options, half)).toBe(100);
    expect(fullJitterDelay(2, options, half)).toBe(200);
    expect(fullJitterDelay(5, options, half)).toBe(1600);
  });

  it("never exceeds the cap, even for huge attempt numbers", () => {
    const top = () => 0.999_999_9;
    expect(fullJitterDelay(8, options, top)).toBe(19_999);
    expect(fullJitterDelay(30, options, top)).toBe(19_999);
    expect(fullJitterDelay(1_000, options, top)).toBe(19_999);
    expect(fullJitterDelay(Number.MAX_SAFE_INTEGER, options, top)).toBe(19_999);
    expect(fullJitterDelay(3, { baseMs: 100, capMs: 250 }, top)).toBe(249);
  });

  it("spreads seeded draws uniformly over [0, ceiling): full jitter, not equal or decorrelated", () => {
    const random = seededRandom(42);
    const draws = Array.from({ length: 20_000 }, () => fullJitterDelay(3, options, random));
    const ceiling = 800;
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(ceiling);
    for (const draw of draws) expect(Number.isInteger(draw)).toBe(true);
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    expect(mean).toBeGreaterThan(ceiling * 0.47);
    expect(mean).toBeLessThan(ceiling * 0.53);
    // Every tenth of the range is hit about a tenth of the time.
    const deciles = new Array<number>(10).fill(0);
    for (const draw of draws) deciles[Math.floor((draw / ceiling) * 10)]!++;
    for (const count of deciles) {
      expect(count).toBeGreaterThan(draws.length * 0.08);
      expect(count).toBeLessThan(draws.length * 0.12);
    }
    // The same seed gives the same delays.
    const again = seededRandom(42);
    expect(Array.from({ length: 5 }, () => fullJitterDelay(3, options, again))).toEqual(draws.slice(0, 5));
  });
});

describe("retryAfterMs", () => {
  const NOW = Date.parse("2026-03-01T12:00:00Z");
  const headers = (entries: Record<string, string>) => new Headers(entries);

  it("is undefined when the server sent neither header", () => {
    expect(retryAfterMs(headers({}), NOW)).toBeUndefined();
    expect(retryAfterMs(headers({ "content-type": "application/json" }), NOW)).toBeUndefined();
  });

  it("reads retry-after-ms as milliseconds, fractions included", () => {
    expect(retryAfterMs(headers({ "retry-after-ms": "1500" }), NOW)).toBe(1500);
    expect(retryAfterMs(headers({ "retry-after-ms": "0" }), NOW)).toBe(0);
    expect(retryAfterMs(headers({ "retry-after-ms": "12.5" }), NOW)).toBe(12.5);
  });

  it("reads retry-after as seconds", () => {
    expect(retryAfterMs(headers({ "retry-after": "2" }), NOW)).toBe(2000);
    expect(retryAfterMs(headers({ "retry-after": "0" }), NOW)).toBe(0);
    expect(retryAfterMs(headers({ "retry-after": "0.25" }), NOW)).toBe(250);
    expect(retryAfterMs(headers({ "Retry-After": " 3 " }), NOW)).toBe(3000);
  });

  it("reads retry-after as an HTTP date, relative to now; a date in the past means now", () => {
    const in10s = new Date(NOW + 10_000).toUTCString();
    expect(retryAfterMs(headers({ "retry-after": in10s }), NOW)).toBe(10_000);
    expect(retryAfterMs(headers({ "retry-after": "Sun, 01 Mar 2026 12:00:30 GMT" }), NOW)).toBe(30_000);
    expect(retryAfterMs(headers({ "retry-after": new Date(NOW - 5_000).toUTCString() }), NOW)).toBe(0);
  });

  it("prefers retry-after-ms to retry-after", () => {
    expect(retryAfterMs(headers({ "retry-after-ms": "250", "retry-after": "9" }), NOW)).toBe(250);
  });

  it("ignores garbage: undefined, or retry-after when only retry-after-ms is garbage", () => {
    expect(retryAfterMs(headers({ "retry-after": "soon" }), NOW)).toBeUndefined();
    expect(retryAfterMs(headers({ "retry-after": "" }), NOW)).toBeUndefined();
    expect(retryAfterMs(headers({ "retry-after": "   " }), NOW)).toBeUndefined();
    expect(retryAfterMs(headers({ "retry-after-ms": "abc" }), NOW)).toBeUndefined();
    expect(retryAfterMs(headers({ "retry-after-ms": "-5" }), NOW)).toBeUndefined();
    expect(retryAfterMs(headers({ "retry-after-ms": "NaN" }), NOW)).toBeUndefined();
    expect(retryAfterMs(headers({ "retry-after-ms": "abc", "retry-after": "4" }), NOW)).toBe(4000);
  });

  it("caps what it honours at 60 s, however it was said", () => {
    expect(retryAfterMs(headers({ "retry-after-ms": "999999" }), NOW)).toBe(60_000);
    expect(retryAfterMs(headers({ "retry-after": "3600" }), NOW)).toBe(60_000);
    expect(retryAfterMs(headers({ "retry-after": new Date(NOW + 3_600_000).toUTCString() }), NOW)).toBe(
      60_000,
    );
    expect(retryAfterMs(headers({ "retry-after": "60" }), NOW)).toBe(60_000);
    expect(retryAfterMs(headers({ "retry-after": "59" }), NOW)).toBe(59_000);
  });
});

describe("classify", () => {
  it("retries Bedrock's retryable exceptions, whatever the status", () => {
    expect([...RETRYABLE_EXCEPTIONS].sort()).toEqual(
      [
        "InternalServerException",
        "ModelNotReadyException",
        "ServiceUnavailableException",
        "ThrottlingException",
      ].sort(),
    );
    const statusOf: Record<string, number> = {
      ThrottlingException: 429,
      ServiceUnavailableException: 503,
      ModelNotReadyException: 429,
      InternalServerException: 500,
    };
    for (const name of RETRYABLE_EXCEPTIONS) {
      expect(classify({ status: statusOf[name], errorName: name }), name).toBe("retry");
      expect(classify({ errorName: name }), `${name} without status`).toBe("retry");
    }
  });

  it("fails over on exceptions one target cannot serve but another may", () => {
    const table: Array<[string, number]> = [
      ["AccessDeniedException", 403],
      ["ResourceNotFoundException", 404],
      ["ModelTimeoutException", 408],
      ["ModelErrorException", 424],
      ["ServiceQuotaExceededException", 400],
      ["UnrecognizedClientException", 403],
      ["ExpiredTokenException", 403],
    ];
    expect([...FAILOVER_EXCEPTIONS].sort()).toEqual(table.map(([name]) => name).sort());
    for (const [name, status] of table) expect(classify({ status, errorName: name }), name).toBe("failover");
  });

  it("ends the request on validation and other client errors", () => {
    expect(classify({ status: 400, errorName: "ValidationException" })).toBe("fatal");
    expect(classify({ status: 400 })).toBe("fatal");
    expect(classify({ status: 409, errorName: "ConflictException" })).toBe("fatal");
    expect(classify({ status: 413 })).toBe("fatal");
    expect(classify({ status: 422 })).toBe("fatal");
    expect(classify({ status: 400, errorName: "SerializationException" })).toBe("fatal");
    expect(classify({})).toBe("fatal");
  });

  it("classifies bare statuses (the Anthropic API sends no AWS name)", () => {
    expect([...RETRYABLE_STATUS].sort((a, b) => a - b)).toEqual([408, 429, 500, 502, 503, 504, 529]);
    for (const status of RETRYABLE_STATUS) expect(classify({ status }), String(status)).toBe("retry");
    expect([...FAILOVER_STATUS].sort((a, b) => a - b)).toEqual([401, 403, 404]);
    for (const status of FAILOVER_STATUS) expect(classify({ status }), String(status)).toBe("failover");
    for (const status of [200, 201, 204, 299]) expect(classify({ status }), String(status)).toBe("success");
    for (const status of [300, 304, 400, 405, 410, 501, 505]) {
      expect(classify({ status }), String(status)).toBe("fatal");
    }
  });

  it("lets the exception name win over the status", () => {
    // An access denial behind a proxy answering 503 still moves on rather than hammering.
    expect(classify({ status: 503, errorName: "AccessDeniedException" })).toBe("failover");
    // A throttle behind a 400 is still a throttle.
    expect(classify({ status: 400, errorName: "ThrottlingException" })).toBe("retry");
  });

  it("retries connection failures before a response, and fails over on unknown network errors", () => {
    for (const code of RETRYABLE_NETWORK_CODES) expect(classify({ networkCode: code }), code).toBe("retry");
    for (const code of ["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "UND_ERR_HEADERS_TIMEOUT"]) {
      expect(RETRYABLE_NETWORK_CODES.has(code)).toBe(true);
    }
    expect(classify({ networkCode: "ERR_TLS_CERT_ALTNAME_INVALID" })).toBe("failover");
    expect(classify({ networkCode: "SOMETHING_ELSE" })).toBe("failover");
    // The network code decides even when a status is present.
    expect(classify({ networkCode: "ECONNRESET", status: 200 })).toBe("retry");
  });
});

describe("isThrottle", () => {
  it("is true for 429 and ThrottlingException only", () => {
    expect(isThrottle({ status: 429 })).toBe(true);
    expect(isThrottle({ status: 429, errorName: "ThrottlingException" })).toBe(true);
    expect(isThrottle({ errorName: "ThrottlingException" })).toBe(true);
    expect(isThrottle({ status: 400, errorName: "ThrottlingException" })).toBe(true);
    expect(isThrottle({ status: 503, errorName: "ServiceUnavailableException" })).toBe(false);
    expect(isThrottle({ status: 529 })).toBe(false);
    expect(isThrottle({ status: 500, errorName: "InternalServerException" })).toBe(false);
    expect(isThrottle({ status: 400, errorName: "ServiceQuotaExceededException" })).toBe(false);
    expect(isThrottle({ networkCode: "ECONNRESET" })).toBe(false);
    expect(isThrottle({})).toBe(false);
  });
});

describe("networkCodeOf", () => {
  it("reads the code on the error itself", () => {
    expect(networkCodeOf(Object.assign(new Error("reset"), { code: "ECONNRESET" }))).toBe("ECONNRESET");
  });

  it("reads undici's code on the cause, and deeper causes", () => {
    const undici = new TypeError("fetch failed", {
      cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }),
    });
    expect(networkCodeOf(undici)).toBe("UND_ERR_SOCKET");
    const deep = new Error("a", {
      cause: new Error("b", { cause: new Error("c", { cause: { code: "ECONNREFUSED" } }) }),
    });
    expect(networkCodeOf(deep)).toBe("ECONNREFUSED");
  });

  it("skips codes that are not strings (DOMException's numeric code) and looks at the cause", () => {
    const error = Object.assign(new Error("x", { cause: { code: "EPIPE" } }), { code: 20 });
    expect(networkCodeOf(error)).toBe("EPIPE");
    expect(networkCodeOf(new DOMException("aborted", "AbortError"))).toBeUndefined();
  });

  it("is undefined without a code, for non-errors, and stops on cycles and very deep chains", () => {
    expect(networkCodeOf(new Error("plain"))).toBeUndefined();
    expect(networkCodeOf(undefined)).toBeUndefined();
    expect(networkCodeOf(null)).toBeUndefined();
    expect(networkCodeOf("ECONNRESET")).toBeUndefined();
    const cyclic: { cause?: unknown } = {};
    cyclic.cause = cyclic;
    expect(networkCodeOf(cyclic)).toBeUndefined();
    let chain: unknown = { code: "ECONNRESET" };
    for (let i = 0; i < 10; i++) chain = { cause: chain };
    expect(networkCodeOf(chain)).toBeUndefined();
  });
});

describe("RetryBudget", () => {
  /** Retries granted in a row until the budget says no (bounded, so a broken budget fails the test). */
  function drain(budget: RetryBudget, limit = 10_000): number {
    let granted = 0;
    while (granted < limit && budget.tryRetry()) granted++;
    return granted;
  }

  it("allows `ratio` retries per request over the window", () => {
    const clock = fakeClock();
    const budget = new RetryBudget({ ratio: 0.5, minRetries: 0, windowMs: 10_000 }, clock.now);
    for (let i = 0; i < 10; i++) budget.recordRequest();
    expect(drain(budget)).toBe(5);
    budget.recordRequest();
    budget.recordRequest();
    expect(drain(budget)).toBe(1);
  });

  it("defaults to one retry per request plus a floor of 10", () => {
    const clock = fakeClock();
    const budget = new RetryBudget({}, clock.now);
    for (let i = 0; i < 30; i++) budget.recordRequest();
    expect(drain(budget)).toBe(40);
  });

  it("keeps a floor of retries for a quiet client", () => {
    const clock = fakeClock();
    const budget = new RetryBudget({ ratio: 1, minRetries: 3 }, clock.now);
    expect(drain(budget)).toBe(3);
    budget.recordRequest();
    expect(drain(budget)).toBe(1);
  });

  it("30% throttling (about 0.43 retries per request) stays inside the default budget", () => {
    const clock = fakeClock();
    const budget = new RetryBudget({}, clock.now);
    const random = seededRandom(7);
    let refused = 0;
    for (let request = 0; request < 5_000; request++) {
      clock.advance(2);
      budget.recordRequest();
      while (random() < 0.3) {
        if (!budget.tryRetry()) {
          refused++;
          break;
        }
      }
    }
    expect(refused).toBe(0);
  });

  it("slides: what was counted leaves the window after windowMs, bucket by bucket", () => {
    const clock = fakeClock();
    const budget = new RetryBudget({ ratio: 1, minRetries: 0, windowMs: 1_000 }, clock.now);
    for (let i = 0; i < 10; i++) budget.recordRequest();
    expect(drain(budget)).toBe(10);
    clock.advance(500);
    // Half a window later the old retries still count against the new requests.
    for (let i = 0; i < 4; i++) budget.recordRequest();
    expect(drain(budget)).toBe(4);
    clock.advance(499);
    expect(budget.tryRetry()).toBe(false);
    // One full window after the first requests, they and their retries are gone; the later ones stay.
    clock.advance(1);
    expect(drain(budget)).toBe(0);
    clock.advance(500);
    // Now everything has left the window: a new request gives exactly one retry.
    budget.recordRequest();
    expect(drain(budget)).toBe(1);
  });

  it("forgets everything after a long idle period", () => {
    const clock = fakeClock();
    const budget = new RetryBudget({ ratio: 1, minRetries: 2, windowMs: 1_000 }, clock.now);
    for (let i = 0; i < 3; i++) budget.recordRequest();
    expect(drain(budget)).toBe(5);
    clock.advance(3_600_000);
    expect(drain(budget)).toBe(2);
  });
});

describe("CircuitBreaker", () => {
  function breaker(options: CircuitBreakerOptions = {}) {
    const clock = fakeClock();
    const changes: BreakerState[] = [];
    const b = new CircuitBreaker(options, clock.now, (state) => changes.push(state));
    return { b, clock, changes };
  }
  const fail = (b: CircuitBreaker, n: number) => {
    for (let i = 0; i < n; i++) b.failure();
  };

  it("starts closed and allows requests", () => {
    const { b, changes } = breaker();
    expect(b.current()).toBe("closed");
    expect(b.allow()).toBe(true);
    expect(b.probing).toBe(false);
    expect(changes).toEqual([]);
  });

  it("opens after `consecutiveFailures` failures in a row (default 5); a success resets the count", () => {
    const { b } = breaker();
    fail(b, 4);
    expect(b.current()).toBe("closed");
    b.success();
    fail(b, 4);
    expect(b.current()).toBe("closed");
    b.failure();
    expect(b.current()).toBe("open");
    expect(b.allow()).toBe(false);

    const custom = breaker({ consecutiveFailures: 2 }).b;
    custom.failure();
    expect(custom.current()).toBe("closed");
    custom.failure();
    expect(custom.current()).toBe("open");
  });

  it("opens on the error rate once the window holds minRequests outcomes", () => {
    const { b } = breaker({ consecutiveFailures: 1_000, errorRate: 0.5, minRequests: 10 });
    // Failure, success, failure...: never 1,000 in a row, but half of them failed.
    for (let i = 0; i < 9; i++) i % 2 === 0 ? b.failure() : b.success();
    expect(b.current()).toBe("closed");
    b.success(); // 10 outcomes, 5 failures: a success never trips it
    expect(b.current()).toBe("closed");
    b.failure(); // 11 outcomes, 6 failures
    expect(b.current()).toBe("open");
  });

  it("does not open on the error rate below minRequests, or below the rate", () => {
    const few = breaker({ consecutiveFailures: 1_000, errorRate: 0.5, minRequests: 10 }).b;
    fail(few, 9);
    expect(few.current()).toBe("closed");

    const healthy = breaker({ consecutiveFailures: 1_000, errorRate: 0.5, minRequests: 10 }).b;
    for (let i = 0; i < 100; i++) i % 3 === 0 ? healthy.failure() : healthy.success();
    expect(healthy.current()).toBe("closed");
  });

  it("counts the error rate over its window only", () => {
    const { b } = breaker({ consecutiveFailures: 1_000, minRequests: 10, windowMs: 1_000 });
    for (let i = 0; i < 5; i++) {
      b.success();
      b.failure();
    }
    // 10 outcomes within the window, half failed.
    expect(b.current()).toBe("open");

    const other = breaker({ consecutiveFailures: 1_000, minRequests: 10, windowMs: 1_000 });
    fail(other.b, 9);
    other.clock.advance(1_001);
    other.b.failure(); // the nine older failures left the window: 1 outcome
    expect(other.b.current()).toBe("closed");
  });

  it("open: skips the target until openMs has passed, then half-open lets one probe through", () => {
    const { b, clock, changes } = breaker({ openMs: 1_000 });
    fail(b, 5);
    expect(b.allow()).toBe(false);
    clock.advance(999);
    expect(b.current()).toBe("open");
    expect(b.allow()).toBe(false);
    clock.advance(1);
    expect(b.current()).toBe("half-open");
    expect(b.allow()).toBe(true);
    expect(b.probing).toBe(true);
    expect(b.allow()).toBe(false);
    expect(b.allow()).toBe(false);
    expect(changes).toEqual(["open", "half-open"]);
  });

  it("allows up to halfOpenProbes probes at a time", () => {
    const { b, clock } = breaker({ openMs: 100, halfOpenProbes: 3 });
    fail(b, 5);
    clock.advance(100);
    expect([b.allow(), b.allow(), b.allow(), b.allow()]).toEqual([true, true, true, false]);
  });

  it("a probe's success closes it and resets the open time", () => {
    const { b, clock, changes } = breaker({ openMs: 1_000 });
    fail(b, 5);
    clock.advance(1_000);
    expect(b.allow()).toBe(true);
    b.success();
    expect(b.current()).toBe("closed");
    expect(b.allow()).toBe(true);
    expect(b.allow()).toBe(true);
    expect(changes).toEqual(["open", "half-open", "closed"]);
    // A fresh count: four failures do not open it again, five do, for openMs again.
    fail(b, 4);
    expect(b.current()).toBe("closed");
    b.failure();
    expect(b.current()).toBe("open");
    clock.advance(1_000);
    expect(b.current()).toBe("half-open");
  });

  it("a probe's failure opens it again for twice as long, up to maxOpenMs", () => {
    const { b, clock, changes } = breaker({ openMs: 1_000, maxOpenMs: 5_000 });
    fail(b, 5);
    const openFor: number[] = [];
    for (let round = 0; round < 5; round++) {
      // Measure how long it stays open, in 100 ms steps.
      let waited = 0;
      while (b.current() === "open" && waited < 60_000) {
        clock.advance(100);
        waited += 100;
      }
      openFor.push(waited);
      expect(b.allow()).toBe(true);
      b.failure();
      expect(b.current()).toBe("open");
    }
    expect(openFor).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
    expect(changes.slice(0, 4)).toEqual(["open", "half-open", "open", "half-open"]);
    // Success brings the open time back to openMs.
    clock.advance(5_000);
    expect(b.allow()).toBe(true);
    b.success();
    fail(b, 5);
    clock.advance(1_000);
    expect(b.current()).toBe("half-open");
  });

  it("the probe limit holds again in the next half-open period, whatever the earlier probes did", () => {
    const { b, clock } = breaker({ openMs: 100, halfOpenProbes: 2 });
    fail(b, 5);
    clock.advance(100);
    expect([b.allow(), b.allow(), b.allow()]).toEqual([true, true, false]);
    // Both probes succeed: the first closes the breaker, the second reports while closed.
    b.success();
    b.success();
    expect(b.current()).toBe("closed");
    fail(b, 5);
    clock.advance(100);
    expect(b.current()).toBe("half-open");
    // Two probes again, as configured.
    expect([b.allow(), b.allow(), b.allow()]).toEqual([true, true, false]);
  });

  it("neutral outcomes (throttling, 4xx) neither trip nor close it, and free a probe slot", () => {
    const { b, clock } = breaker({ openMs: 100 });
    for (let i = 0; i < 100; i++) b.neutral();
    expect(b.current()).toBe("closed");
    fail(b, 5);
    clock.advance(100);
    expect(b.allow()).toBe(true);
    expect(b.allow()).toBe(false);
    b.neutral();
    expect(b.current()).toBe("half-open");
    expect(b.allow()).toBe(true);
    b.success();
    expect(b.current()).toBe("closed");
  });

  it("neutral outcomes do not count toward the error rate", () => {
    const { b } = breaker({ consecutiveFailures: 1_000, errorRate: 0.5, minRequests: 4 });
    b.failure();
    for (let i = 0; i < 50; i++) b.neutral();
    b.failure();
    b.failure();
    // Three outcomes only: under minRequests, so neutral ones were not counted as successes or failures.
    expect(b.current()).toBe("closed");
    b.success();
    // Five outcomes, four failed.
    b.failure();
    expect(b.current()).toBe("open");
  });

  it("forceOpen opens it now, for the given time or the current open time", () => {
    const { b, clock, changes } = breaker({ openMs: 1_000 });
    b.forceOpen(300);
    expect(b.current()).toBe("open");
    expect(b.allow()).toBe(false);
    clock.advance(299);
    expect(b.current()).toBe("open");
    clock.advance(1);
    expect(b.current()).toBe("half-open");
    expect(changes).toEqual(["open", "half-open"]);

    const plain = breaker({ openMs: 1_000 });
    plain.b.forceOpen();
    plain.clock.advance(999);
    expect(plain.b.current()).toBe("open");
    plain.clock.advance(1);
    expect(plain.b.current()).toBe("half-open");
  });

  it("onChange hears each transition once, in order", () => {
    const { b, clock, changes } = breaker({ openMs: 100 });
    fail(b, 5);
    fail(b, 5); // already open: no second "open"
    b.current();
    clock.advance(100);
    b.current();
    b.current();
    b.allow();
    b.success();
    b.success();
    expect(changes).toEqual(["open", "half-open", "closed"]);
  });

  it("works without an onChange callback", () => {
    const clock = fakeClock();
    const b = new CircuitBreaker({ consecutiveFailures: 1, openMs: 10 }, clock.now);
    b.failure();
    expect(b.current()).toBe("open");
    clock.advance(10);
    expect(b.allow()).toBe(true);
    b.success();
    expect(b.current()).toBe("closed");
  });
});

describe("limitFor", () => {
  it("takes the most specific entry: target and model, then target, then *", () => {
    const policy = {
      limits: {
        "*": { rpm: 1 },
        "bedrock us-east-1": { rpm: 2 },
        "bedrock us-east-1 claude-sonnet-4-6": { rpm: 3 },
      },
    };
    expect(limitFor(policy, "bedrock us-east-1", "claude-sonnet-4-6")?.rpm).toBe(3);
    expect(limitFor(policy, "bedrock us-east-1", "claude-haiku-4-5")?.rpm).toBe(2);
    expect(limitFor(policy, "bedrock us-west-2", "claude-sonnet-4-6")?.rpm).toBe(1);
    expect(limitFor({}, "bedrock us-west-2", "claude-sonnet-4-6")).toBeUndefined();
    expect(limitFor({ limits: { x: { rpm: 1 } } }, "y", "m")).toBeUndefined();
    expect(limitFor({ limits: (t, m) => ({ rpm: t.length + m.length }) }, "ab", "c")?.rpm).toBe(3);
  });
});
