import { describe, expect, it } from "vitest";
import {
  AdaptiveRateLimiter,
  type Clock,
  RateLimitedError,
  RateLimiterRegistry,
  type Reservation,
  systemClock,
} from "./rate-limiter.js";

interface Timer {
  at: number;
  resolve: () => void;
}

/** A clock that only moves when the test says so; `sleep` resolves as `advance` passes its time. */
class FakeClock implements Clock {
  time = 0;
  private readonly timers: Timer[] = [];

  now(): number {
    return this.time;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer: Timer = { at: this.time + ms, resolve };
      this.timers.push(timer);
      signal?.addEventListener(
        "abort",
        () => {
          this.timers.splice(this.timers.indexOf(timer), 1);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  /** Timers still pending (the limiter must not leave any behind once its queue is empty). */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing due timers in order and letting their effects run. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      await flush();
      const due = this.timers.filter((timer) => timer.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers.splice(this.timers.indexOf(due), 1);
      this.time = due.at;
      due.resolve();
    }
    this.time = end;
    await flush();
  }
}

/** Lets pending promise callbacks run. */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

type State = "pending" | "fulfilled" | "rejected";

/** Tracks a promise's state synchronously, so tests can assert "not yet" and "at once". */
function track<T>(promise: Promise<T>): { readonly state: State; readonly error: unknown } {
  const tracked = { state: "pending" as State, error: undefined as unknown };
  promise.then(
    () => {
      tracked.state = "fulfilled";
    },
    (error: unknown) => {
      tracked.state = "rejected";
      tracked.error = error;
    },
  );
  return tracked;
}

async function rejection(promise: Promise<unknown>): Promise<RateLimitedError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RateLimitedError);
  return error as RateLimitedError;
}

describe("AdaptiveRateLimiter: requests per minute", () => {
  it("admits exactly rpm requests at once, then one every 60_000/rpm ms", async () => {
    const clock = new FakeClock();
    const limiter = new AdaptiveRateLimiter({ rpm: 3, maxWaitMs: 60_000 }, clock);
    const first = [track(limiter.acquire(0)), track(limiter.acquire(0)), track(limiter.acquire(0))];
    const fourth = track(limiter.acquire(0));
    const fifth = track(limiter.acquire(0));
    await flush();
    expect(first.map((t) => t.state)).toEqual(["fulfilled", "fulfilled", "fulfilled"]);
    expect(fourth.state).toBe("pending");
    expect(limiter.stats().queued).toBe(2);

    await clock.advance(19_999);
    expect(fourth.state).toBe("pending");
    await clock.advance(1);
    expect(fourth.state).toBe("fulfilled");
    expect(fifth.state).toBe("pending");
    await clock.advance(19_999);
    expect(fifth.state).toBe("pending");
    await clock.advance(1);
    expect(fifth.state).toBe("fulfilled");
    expect(limiter.stats().queued).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it("refills continuously up to one minute's worth, not beyond", async () => {
    const clock = new FakeClock();
    const limiter = new AdaptiveRateLimiter({ rpm: 60 }, clock);
    for (let i = 0; i < 60; i++) await limiter.acquire(0);
    expect(limiter.stats().availableRequests).toBeCloseTo(0);
    clock.time = 1_500;
    expect(limiter.stats().availableRequests).toBeCloseTo(1.5);
    clock.time = 10 * 60_000;
    expect(limiter.stats().availableRequests).toBe(60);
  });

  it("release() gives the request back so the next waiter goes at once", async () => {
    const clock = new FakeClock();
    const limiter = new AdaptiveRateLimiter({ rpm: 1, maxWaitMs: 60_000 }, clock);
    const reservation = await limiter.acquire(0);
    const next = track(limiter.acquire(0));
    await flush();
    expect(next.state).toBe("pending");
    reservation.release();
    await flush();
    expect(next.state).toBe("fulfilled");
    expect(clock.time).toBe(0);
  });
});

describe("AdaptiveRateLimiter: tokens per minute", () => {
  it("reserves tokens at admission and waits for the refill", async () => {
    const clock = new FakeClock();
    const limiter = new AdaptiveRateLimiter({ tpm: 1_000 }, clock);
    await limiter.acquire(600);
    expect(limiter.stats().availableTokens).toBe(400);
    const second = track(limiter.acquire(600));
    await flush();
    expect(second.state).toBe("pending");
    // 200 tokens short at 1_000 per minute: 12 s.
    await clock.advance(11_999);
    expect(second.state).toBe("pending");
    await clock.advance(1);
    expect(second.state).toBe("fulfilled");
  });

  it("settle() returns unused tokens, so the next request goes earlier", async () => {
    const clock = new FakeClock();
    const limiter = new AdaptiveRateLimiter({ tpm: 1_000 }, clock);
    const first = await limiter.acquire(600);
    const second = track(limiter.acquire(600));
    await flush();
    expect(second.state).toBe("pending");
    first.settle(100); // 500 of the 600 reserved come back: 900 available.
    await flush();
    expect(second.state).toBe("fulfilled");
    expect(clock.time).toBe(0);
    expect(limiter.stats().availableTokens).toBe(300);
  });

  it("settle() above the reservation takes more, and settles only once", async () => {
    const clock = new FakeClock();
    const limiter = new AdaptiveRateLimiter({ tpm: 1_000 }, clock);
    const reservation = await limiter.acquire(600);
    reservation.settle(900);
    expect(limiter.stats().availableTokens).toBe(100);
    reservation.settle(0);
    reservation.release();
    expect(limiter.stats().availableTokens).toBe(100);
  });

  it("release() returns all reserved tokens, capped at capacity", async () => {
    const clock = new FakeClock();
    const limiter = new AdaptiveRateLimiter({ tpm: 1_000 }, clock);
    const reservation = await limiter.acquire(700);
    clock.time = 30_000; // +500 refilled: 800 available.
    reservation.release();
    expect(limiter.stats().availableTokens).toBe(1_000);
  });

  it("refuses a request larger than the whole per-minute budget, at once", async () => {
    const limiter = new AdaptiveRateLimiter({ tpm: 1_000 }, new FakeClock());
    const error = await rejection(limiter.acquire(1_001));
    expect(error.code).toBe("too_large");
    expect(limiter.stats().queued).toBe(0);
    await expect(limiter.acquire(1_000)).resolves.toBeDefined();
  });

  it("admits a request above the throttled capacity but within the configured budget once full", async () => {
    const clock = new FakeClock();
    const limiter = new AdaptiveRateLimiter({ tpm: 1_000 }, clock);
    limiter.onThrottle(); // 700 per minute, capacity 700.
    const big = track(limiter.acquire(900));
    await flush();
    expect(big.state).toBe("fulfilled");
    // It leaves the bucket in debt, which the refill pays back before the next one.
    expect(limiter.stats().availableTokens).toBeCloseTo(-200);
    const next = track(limiter.acquire(70));
    // 270 tokens short at 700 per minute: 23_142.86 ms, rounded up.
    await clock.advance(23_142);
    expect(next.state).toBe("pending");
    await clock.advance(1);
    expect(next.state).toBe("fulfilled");
  });
});

describe("AdaptiveRateLimiter: queue", () => {
  it("serves waiters in order: small requests never overtake a large one", async () => {
    const clock = new FakeClock();
    const limiter = new AdaptiveRateLimiter({ tpm: 1_000, maxWaitMs: 120_000 }, clock);
    await limiter.acquire(1_000);
    const order: string[] = [];
    const waiters = [
      ["large", 1_000],
      ["small-1", 10],
      ["small-2", 10],
    ] as const;
    const done = waiters.map(([name, tokens]) => limiter.acquire(tokens).then(() => order.push(name)));
    await clock.advance(1_000); // ~16 tokens: enough for a small one, but the large one is first.
    expect(order).toEqual([]);
    await clock.advance(59_000);
    expect(order).toEqual(["large"]);
    await clock.advance(600);
    expect(order).toEqual(["large", "small-1"]);
    await clock.advance(600);
    await Promise.all(done);
    expect(order).toEqual(["large", "small-1", "small-2"]);
  });

  it("a newcomer waits behind the queue even when it would fit now", async () => {
    const clock = new FakeClock();
    const limiter = new AdaptiveRateLimiter({ tpm: 1_000, maxWaitMs: 120_000 }, clock);
    await limiter.acquire(500);
    const large = track(limiter.acquire(1_000));
    const small = track(limiter.acquire(10)); // 500 tokens are there, but the large one waits first.
    await flush();
    expect(large.state).toBe("pending");
    expect(small.state).toBe("pending");
    await clock.advance(30_000);
    expect(large.state).toBe("fulfilled");
    expect(small.state).toBe("pending");
    await clock.advance(600);
    expect(small.state).toBe("fulfilled");
  });

  it("rejects with queue_full at once when maxQueue requests are waiting", async () => {
    const clock = new FakeClock();
    const limiter = new AdaptiveRateLimiter({ rpm: 60, maxQueue: 2 }, clock);
    for (let i = 0; i < 60; i++) await limiter.acquire(0);
    const queued = [track(limiter.acquire(0)), track(limiter.acquire(0))];
    const error = await rejection(limiter.acquire(0));
    expect(error.code).toBe("queue_full");
    expect(error.retryAfterMs).toBe(3_000);
    expect(clock.time).toBe(0);
    expect(queued.map((t) => t.state)).toEqual(["pending", "pending"]);
    expect(limiter.stats().queued).toBe(2);
  });

  it("rejects with wait_exceeded at once when the computed wait exceeds maxWaitMs", async () => {
    const clock = new FakeClock();
    const limiter = new AdaptiveRateLimiter({ rpm: 60, maxWaitMs: 2_500 }, clock);
    for (let i = 0; i < 60; i++) await limiter.acquire(0);
    const queued = [track(limiter.acquire(0)), track(limiter.acquire(0))]; // 1 s and 2 s away
    const error = await rejection(limiter.acquire(0)); // 3 s away
    expect(error.code).toBe("wait_exceeded");
    expect(error.retryAfterMs).toBe(3_000);
    expect(clock.time).toBe(0);
    expect(limiter.stats().queued).toBe(2);
    await clock.advance(2_000);
    expect(queued.map((t) => t.state)).toEqual(["fulfilled", "fulfilled"]);
  });

  it("rejects a waiter with wait_exceeded when a throttle pushes it past maxWaitMs", async () => {
    const clock = new FakeClock();
    const limiter = new AdaptiveRateLimiter({ rpm: 60, maxWaitMs: 1_500 }, clock);
    for (let i = 0; i < 60; i++) await limiter.acquire(0);
    const waiter = track(limiter.acquire(0)); // 1 s away at 60 rpm
    limiter.onThrottle();
    limiter.onThrottle(); // 29.4 rpm: about 2.04 s away
    await clock.advance(1_499);
    expect(waiter.state).toBe("pending");
    await clock.advance(1);
    expect(waiter.state).toBe("rejected");
    expect((waiter.error as RateLimitedError).code).toBe("wait_exceeded");
    expect(limiter.stats().queued).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it("abort while queued removes the waiter and rejects with the abort reason", async () => {
    const clock = new FakeClock();
    const limiter = new AdaptiveRateLimiter({ tpm: 1_000, maxWaitMs: 120_000 }, clock);
    await limiter.acquire(1_000);
    const controller = new AbortController();
    const large = track(limiter.acquire(1_000, controller.signal));
    const small = track(limiter.acquire(10));
    await clock.advance(1_000); // ~16 tokens: the small one waits behind the large one.
    expect(small.state).toBe("pending");
    const reason = new Error("caller gave up");
    controller.abort(reason);
    await flush();
    expect(large.state).toBe("rejected");
    expect(large.error).toBe(reason);
    // The aborted waiter took nothing and no longer blocks the one behind it.
    expect(small.state).toBe("fulfilled");
    expect(limiter.stats().queued).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it("rejects at once with the reason of an already aborted signal", async () => {
    const limiter = new AdaptiveRateLimiter({ rpm: 10 }, new FakeClock());
    const reason = new Error("already gone");
    await expect(limiter.acquire(0, AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(limiter.stats().availableRequests).toBe(10);
  });
});

describe("AdaptiveRateLimiter: AIMD", () => {
  it("onThrottle cuts the admitted rate by 30% and clamps the burst to the new capacity", async () => {
    const clock = new FakeClock();
    const limiter = new AdaptiveRateLimiter({ rpm: 100 }, clock);
    limiter.onThrottle();
    expect(limiter.stats().rpm).toBe(70);
    const admitted: Reservation[] = [];
    for (let i = 0; i < 70; i++) admitted.push(await limiter.acquire(0));
    const next = track(limiter.acquire(0));
    // One request at 70 per minute: 857.14 ms, rounded up.
    await clock.advance(857);
    expect(next.state).toBe("pending");
    await clock.advance(1);
    expect(next.state).toBe("fulfilled");
  });

  it("never decreases below 1 rpm or 1% of tpm", () => {
    const limiter = new AdaptiveRateLimiter({ rpm: 50, tpm: 10_000 }, new FakeClock());
    for (let i = 0; i < 100; i++) limiter.onThrottle();
    expect(limiter.stats().rpm).toBe(1);
    expect(limiter.stats().tpm).toBe(100);
  });

  it("onSuccess restores the rate by 5% of the limit per success, never above it", () => {
    const limiter = new AdaptiveRateLimiter({ rpm: 100, tpm: 10_000 }, new FakeClock());
    limiter.onThrottle();
    limiter.onThrottle();
    expect(limiter.stats().rpm).toBeCloseTo(49);
    expect(limiter.stats().tpm).toBeCloseTo(4_900);
    limiter.onSuccess();
    expect(limiter.stats().rpm).toBeCloseTo(54);
    expect(limiter.stats().tpm).toBeCloseTo(5_400);
    for (let i = 0; i < 9; i++) limiter.onSuccess();
    expect(limiter.stats().rpm).toBeCloseTo(99);
    limiter.onSuccess();
    expect(limiter.stats().rpm).toBe(100);
    expect(limiter.stats().tpm).toBe(10_000);
    for (let i = 0; i < 50; i++) limiter.onSuccess();
    expect(limiter.stats().rpm).toBe(100);
  });

  it("a recovered rate admits waiters sooner", async () => {
    const clock = new FakeClock();
    const limiter = new AdaptiveRateLimiter({ rpm: 60, maxWaitMs: 60_000 }, clock);
    for (let i = 0; i < 10; i++) limiter.onThrottle(); // ~1.69 rpm: the bucket is clamped to it
    await limiter.acquire(0);
    const waiter = track(limiter.acquire(0));
    for (let i = 0; i < 20; i++) limiter.onSuccess(); // back to 60 rpm: the waiter is 1 s away at most
    await clock.advance(1_000);
    expect(waiter.state).toBe("fulfilled");
  });
});

describe("AdaptiveRateLimiter: validation", () => {
  it("refuses non-positive rates and negative token counts", async () => {
    expect(() => new AdaptiveRateLimiter({ rpm: 0 })).toThrow(RangeError);
    expect(() => new AdaptiveRateLimiter({ tpm: -5 })).toThrow(RangeError);
    expect(() => new AdaptiveRateLimiter({ rpm: 1, maxQueue: -1 })).toThrow(RangeError);
    const limiter = new AdaptiveRateLimiter({ tpm: 100 }, new FakeClock());
    await expect(limiter.acquire(-1)).rejects.toBeInstanceOf(RangeError);
    await expect(limiter.acquire(Number.NaN)).rejects.toBeInstanceOf(RangeError);
  });
});

describe("RateLimiterRegistry", () => {
  it("returns one limiter per target and model, asking for the limits once", () => {
    const asked: string[] = [];
    const registry = new RateLimiterRegistry((target, model) => {
      asked.push(`${target}/${model}`);
      return model.startsWith("claude") ? { rpm: 10 } : undefined;
    }, new FakeClock());
    const a = registry.get("us-east-1", "claude-a");
    expect(a).toBeInstanceOf(AdaptiveRateLimiter);
    expect(registry.get("us-east-1", "claude-a")).toBe(a);
    expect(registry.get("us-west-2", "claude-a")).not.toBe(a);
    expect(registry.get("us-east-1", "claude-b")).not.toBe(a);
    expect(registry.get("us-east-1", "titan")).toBeUndefined();
    expect(registry.get("us-east-1", "titan")).toBeUndefined();
    expect(asked).toEqual([
      "us-east-1/claude-a",
      "us-west-2/claude-a",
      "us-east-1/claude-b",
      "us-east-1/titan",
    ]);
  });

  it("keeps targets and models apart whatever characters they hold", () => {
    const registry = new RateLimiterRegistry(() => ({ rpm: 1 }), new FakeClock());
    expect(registry.get("a:b", "c")).not.toBe(registry.get("a", "b:c"));
  });

  it("applies no limiter when the limit has neither rpm nor tpm", () => {
    const registry = new RateLimiterRegistry(() => ({ maxQueue: 5 }), new FakeClock());
    expect(registry.get("t", "m")).toBeUndefined();
  });
});

describe("systemClock", () => {
  it("sleeps on a real timer and stops on abort with the signal's reason", async () => {
    const start = systemClock.now();
    await systemClock.sleep(5);
    expect(systemClock.now() - start).toBeGreaterThanOrEqual(4);
    const controller = new AbortController();
    const sleeping = systemClock.sleep(60_000, controller.signal);
    const reason = new Error("stop");
    controller.abort(reason);
    await expect(sleeping).rejects.toBe(reason);
  });
});
