/** Advice on hand-made ledgers, each saving worked out by hand in the comments. */
import { describe, expect, it } from "vitest";
import {
  type AdviseOptions,
  advise,
  batchAdvice,
  cachingAdvice,
  DAY_MS,
  globalIdFor,
  globalProfileAdvice,
  observedDays,
  provisionedAdvice,
} from "./advise.js";
import type { LedgerRequest } from "./ledger.js";
import { type Price, PriceBook, shippedPrices } from "./prices.js";

const T0 = Date.UTC(2026, 10, 1);
const MINUTE = 60_000;

/** Round figures so savings can be worked out by hand: USD per million tokens. */
const TEST_PRICE: Price = { input: 2, output: 10, cacheWrite5m: 2.5, cacheWrite1h: 4, cacheRead: 0.2 };
const book = new PriceBook({
  updated: "2026-11-25",
  models: [{ anthropicName: "claude-test", bedrock: { global: TEST_PRICE, regional: TEST_PRICE } }],
});

let seq = 0;
function req(overrides: Partial<LedgerRequest> = {}): LedgerRequest {
  seq++;
  return {
    id: `r${seq}`,
    time: T0,
    stream: true,
    provider: "bedrock",
    region: "us-east-1",
    target: "bedrock us-east-1",
    modelRequested: "claude-test",
    modelResolved: "global.anthropic.claude-test",
    anthropicName: "claude-test",
    upstreamRequestId: null,
    key: null,
    tag: "app",
    status: 200,
    errorName: null,
    stopReason: "end_turn",
    partial: false,
    inputTokens: 0,
    outputTokens: 0,
    cacheWriteTokens: 0,
    cacheWrite1hTokens: 0,
    cacheReadTokens: 0,
    costUsd: 0,
    firstByteMs: 100,
    totalMs: 500,
    attempts: [],
    failover: false,
    ...overrides,
  };
}

function options(overrides: Partial<AdviseOptions> = {}): AdviseOptions {
  return { prices: book, since: T0, until: T0 + 2 * DAY_MS, ...overrides };
}

/** 12 requests of claude-test tagged "app", `gapMs` apart, prompts of 5,000 + 100·i tokens. */
function repeatedPrompts(gapMs: number): LedgerRequest[] {
  return Array.from({ length: 12 }, (_, i) => req({ time: T0 + i * gapMs, inputTokens: 5000 + 100 * i }));
}

describe("prompt caching advice", () => {
  it("counts hits and writes of a 5-minute cache when requests come a minute apart", () => {
    const { items, notes } = cachingAdvice(repeatedPrompts(MINUTE), options(), 2);
    expect(notes).toEqual([]);
    expect(items).toHaveLength(1);
    const [item] = items;
    // Prefix 5,000 tokens (the smallest prompt). One write: 5,000 × (2.5 − 2) / 1M = $0.0025 more.
    // Eleven reads: 11 × 5,000 × (2 − 0.2) / 1M = $0.099 less. Net $0.0965 over 2 days.
    // A 1-hour cache: same single write at 4 $/MTok: 0.099 − 0.01 = $0.089, so 5 minutes wins.
    expect(item!.kind).toBe("prompt-caching");
    expect(item!.windowSavingUsd).toBeCloseTo(0.0965, 10);
    expect(item!.monthlySavingUsd).toBeCloseTo(0.0965 * 15, 10);
    expect(item!.scope).toEqual({ model: "claude-test", tag: "app" });
    expect(item!.figures).toMatchObject({
      requests: 12,
      inputTokens: 66_600,
      assumedPrefixTokens: 5000,
      ttl: "5-minute",
      cacheHits: 11,
      cacheWrites: 1,
    });
    // 12 × 5,000 of 66,600 input tokens.
    expect(item!.figures.prefixShare).toBeCloseTo(60_000 / 66_600, 10);
    expect(item!.why).toContain("smallest prompt of the group (5,000 tokens)");
    expect(item!.why).toContain("90% of their input");
    expect(item!.how).toContain('"cache_control": {"type": "ephemeral"}');
  });

  it("chooses the 1-hour cache when requests come 20 minutes apart", () => {
    const { items } = cachingAdvice(repeatedPrompts(20 * MINUTE), options(), 2);
    // 5 minutes: twelve writes, no read: a loss. 1 hour: one write ($0.01 more), eleven reads
    // ($0.099 less): $0.089.
    expect(items[0]!.figures).toMatchObject({ ttl: "1-hour", cacheHits: 11, cacheWrites: 1 });
    expect(items[0]!.windowSavingUsd).toBeCloseTo(0.089, 10);
    expect(items[0]!.how).toContain('"ttl": "1h"');
  });

  it("says so, and advises nothing, when requests are too far apart for any cache", () => {
    const { items, notes } = cachingAdvice(repeatedPrompts(2 * 60 * MINUTE), options(), 2);
    expect(items).toEqual([]);
    expect(notes[0]).toContain("too far apart");
  });

  it("leaves out groups already reading the cache, short prompts, small groups and failures", () => {
    const reading = repeatedPrompts(MINUTE).map((r, i) => (i === 3 ? { ...r, cacheReadTokens: 4000 } : r));
    const short = Array.from({ length: 12 }, (_, i) =>
      req({ time: T0 + i * MINUTE, inputTokens: 900, tag: "s" }),
    );
    const few = repeatedPrompts(MINUTE)
      .slice(0, 9)
      .map((r) => ({ ...r, tag: "few" }));
    const failed = repeatedPrompts(MINUTE).map((r) => ({ ...r, tag: "failed", status: 529 }));
    expect(cachingAdvice([...reading, ...short, ...few, ...failed], options(), 2)).toEqual({
      items: [],
      notes: [],
    });
  });

  it("uses each model's shortest cacheable prefix", () => {
    const prompts = repeatedPrompts(MINUTE);
    expect(cachingAdvice(prompts, options({ minPrefixTokens: () => 6000 }), 2).items).toEqual([]);
    // Prompts of 5,600 tokens and more: i = 6..11, six of them, fewer than 10.
    expect(cachingAdvice(prompts, options({ minPrefixTokens: () => 5600 }), 2).items).toEqual([]);
    expect(
      cachingAdvice(prompts, options({ minPrefixTokens: () => 5600, minRequests: 6 }), 2).items[0]!.figures,
    ).toMatchObject({ requests: 6, assumedPrefixTokens: 5600, minCacheableTokens: 5600 });
  });

  it("notes cache writes that are never read", () => {
    const writes = repeatedPrompts(MINUTE).map((r) => ({ ...r, cacheWriteTokens: 5000 }));
    const { items, notes } = cachingAdvice(writes, options(), 2);
    expect(items).toEqual([]);
    expect(notes).toEqual([expect.stringContaining("never reads them back")]);
  });
});

describe("batch advice", () => {
  it("saves half the cost of non-streaming requests of a tag and model, leaving streaming ones out", () => {
    const etl = Array.from({ length: 10 }, (_, i) =>
      req({ time: T0 + i * MINUTE, tag: "etl", stream: false, costUsd: 0.05 }),
    );
    const interactive = Array.from({ length: 3 }, () => req({ tag: "etl", stream: true, costUsd: 1 }));
    const failed = req({ tag: "etl", stream: false, status: 500, costUsd: 0 });
    const unpriced = req({ tag: "etl", stream: false, costUsd: null, inputTokens: 100 });
    const items = batchAdvice([...etl, ...interactive, failed, unpriced], options({ until: T0 + DAY_MS }), 1);
    expect(items).toHaveLength(1);
    // 10 × $0.05 = $0.50 on demand; batch at 50%: $0.25 less in 1 day, $7.50 in 30.
    expect(items[0]!.windowSavingUsd).toBeCloseTo(0.25, 10);
    expect(items[0]!.monthlySavingUsd).toBeCloseTo(7.5, 10);
    expect(items[0]!.figures).toMatchObject({ requests: 10, streamingRequestsOfTag: 3 });
    expect(items[0]!.why).toContain("3 streaming requests, left out");
    expect(items[0]!.how).toContain("CreateModelInvocationJob");
  });

  it("groups by provider, model and tag, with a minimum group size, and names the Message Batches API on Anthropic", () => {
    const nine = Array.from({ length: 9 }, () => req({ tag: "small", stream: false, costUsd: 1 }));
    const anthropic = Array.from({ length: 10 }, () =>
      req({ tag: null, stream: false, costUsd: 0.2, provider: "anthropic", region: "anthropic" }),
    );
    const items = batchAdvice([...nine, ...anthropic], options(), 2);
    expect(items).toHaveLength(1);
    expect(items[0]!.scope).toEqual({ model: "claude-test", tag: null, provider: "anthropic" });
    expect(items[0]!.what).toContain("untagged");
    expect(items[0]!.windowSavingUsd).toBeCloseTo(1, 10);
    expect(items[0]!.how).toContain("Message Batches API");
  });
});

describe("global inference profile advice", () => {
  const shipped = new PriceBook(shippedPrices());
  const sonnet = (overrides: Partial<LedgerRequest>) =>
    req({
      anthropicName: "claude-sonnet-4-6",
      modelRequested: "claude-sonnet-4-6",
      modelResolved: "us.anthropic.claude-sonnet-4-6",
      inputTokens: 1000,
      outputTokens: 100,
      ...overrides,
    });

  it("prices regional traffic at the global price: the difference is the saving", () => {
    const regional = [
      ...Array.from({ length: 6 }, () => sonnet({})),
      ...Array.from({ length: 4 }, () =>
        sonnet({ region: "eu-west-1", modelResolved: "eu.anthropic.claude-sonnet-4-6" }),
      ),
    ];
    const already = Array.from({ length: 5 }, () =>
      sonnet({ modelResolved: "global.anthropic.claude-sonnet-4-6" }),
    );
    const direct = sonnet({ provider: "anthropic", region: "anthropic", modelResolved: null });
    // Claude 3.7 Sonnet costs the same on every endpoint: nothing to gain.
    const older = sonnet({
      anthropicName: "claude-3-7-sonnet-20250219",
      modelResolved: "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
    });
    const items = globalProfileAdvice(
      [...regional, ...already, direct, older],
      options({ prices: shipped }),
      3,
    );
    expect(items).toHaveLength(1);
    // Per request: regional 1,000 × 3.30 + 100 × 16.50 = $0.00495; global 1,000 × 3 + 100 × 15 = $0.0045.
    // Ten requests: $0.0495 against $0.045, $0.0045 less over 3 days, $0.045 a month.
    expect(items[0]!.figures).toMatchObject({ requests: 10 });
    expect(items[0]!.figures.regionalCostUsd).toBeCloseTo(0.0495, 10);
    expect(items[0]!.figures.globalCostUsd).toBeCloseTo(0.045, 10);
    expect(items[0]!.windowSavingUsd).toBeCloseTo(0.0045, 10);
    expect(items[0]!.monthlySavingUsd).toBeCloseTo(0.045, 10);
    expect(items[0]!.scope.regions).toEqual(["eu-west-1", "us-east-1"]);
    expect(items[0]!.what).toContain("global.anthropic.claude-sonnet-4-6");
    expect(items[0]!.how).toContain('"geography": "global"');
  });

  it("spells the global profile of geographic and in-region ids", () => {
    expect(globalIdFor("us.anthropic.claude-sonnet-4-6")).toBe("global.anthropic.claude-sonnet-4-6");
    expect(globalIdFor("anthropic.claude-sonnet-4-6")).toBe("global.anthropic.claude-sonnet-4-6");
    expect(globalIdFor("arn:aws:bedrock:eu-west-1:1:inference-profile/eu.anthropic.claude-opus-4-7")).toBe(
      "global.anthropic.claude-opus-4-7",
    );
    expect(globalIdFor("acme.custom-v1")).toBeNull();
  });
});

describe("provisioned throughput advice", () => {
  // Ten requests of 1,000,000 input tokens ($2 each, $20 in all) over 2 days: $10 and 5,000,000
  // tokens a day. Two of them in the same minute: a peak of 2,000,000 tokens a minute.
  const traffic = Array.from({ length: 10 }, (_, i) =>
    req({ time: T0 + (i === 1 ? 0 : i * 60) * MINUTE, inputTokens: 1_000_000, costUsd: 2 }),
  );

  it("says what to pass when there is no quote", () => {
    const { items } = provisionedAdvice(traffic, options(), 2);
    expect(items).toHaveLength(1);
    expect(items[0]!.monthlySavingUsd).toBeNull();
    expect(items[0]!.figures).toEqual({
      tokensPerDay: 5_000_000,
      onDemandUsdPerDay: 10,
      peakTokensPerMinute: 2_000_000,
    });
    expect(items[0]!.how).toContain(
      "--provisioned-hourly-usd <USD> --provisioned-tokens-per-minute <TOKENS>",
    );
  });

  it("advises model units once on-demand spend passes their cost", () => {
    const { items, notes } = provisionedAdvice(
      traffic,
      options({ provisioned: { hourlyUsd: 0.1, tokensPerMinute: 1_500_000 } }),
      2,
    );
    expect(notes).toEqual([]);
    // The peak needs ceil(2,000,000 / 1,500,000) = 2 units: 2 × $0.10 × 24 = $4.80 a day against
    // $10 on demand: $5.20 a day less, $156 a month. Break-even: $4.80 / ($20 / 10M tokens) = 2.4M a day.
    expect(items[0]!.figures.units).toBe(2);
    expect(items[0]!.figures.provisionedUsdPerDay).toBeCloseTo(4.8, 10);
    expect(items[0]!.figures.breakEvenTokensPerDay).toBeCloseTo(2_400_000, 4);
    expect(items[0]!.monthlySavingUsd).toBeCloseTo(156, 10);
    expect(items[0]!.windowSavingUsd).toBeCloseTo(10.4, 10);
    expect(items[0]!.why).toContain("It pays from 2,400,000 tokens a day");
  });

  it("notes where it does not pay yet, with the break-even point", () => {
    const { items, notes } = provisionedAdvice(
      traffic,
      options({ provisioned: { hourlyUsd: 1, tokensPerMinute: 1_500_000 } }),
      2,
    );
    // 2 units × $1 × 24 = $48 a day against $10: break-even at $48 / $0.000002 = 24M tokens a day.
    expect(items).toEqual([]);
    expect(notes[0]).toContain("does not pay for claude-test yet");
    expect(notes[0]).toContain("It pays from 24,000,000 tokens a day at this mix (4.8× today's)");
  });

  it("takes the model with the most on-demand Bedrock spend, or the one named", () => {
    const other = Array.from({ length: 3 }, () =>
      req({ anthropicName: "claude-other", modelRequested: "claude-other", inputTokens: 10, costUsd: 0.5 }),
    );
    const onAnthropic = req({
      anthropicName: "claude-big",
      provider: "anthropic",
      costUsd: 100,
      inputTokens: 5,
    });
    expect(provisionedAdvice([...traffic, ...other, onAnthropic], options(), 2).items[0]!.scope.model).toBe(
      "claude-test",
    );
    const named = provisionedAdvice(
      [...traffic, ...other],
      options({ provisioned: { model: "claude-other" } }),
      2,
    );
    expect(named.items[0]!.scope.model).toBe("claude-other");
    const absent = provisionedAdvice(traffic, options({ provisioned: { model: "claude-nope" } }), 2);
    expect(absent.items).toEqual([]);
    expect(absent.notes[0]).toContain("No on-demand Bedrock traffic of claude-nope");
  });
});

describe("advise", () => {
  it("extrapolates from the first recorded day, not from an empty start of the window", () => {
    const late = [req({ time: T0 + 10 * DAY_MS + 5 * MINUTE })];
    expect(observedDays(late, T0, T0 + 13 * DAY_MS)).toBe(3);
    expect(observedDays([], T0, T0 + 13 * DAY_MS)).toBe(13);
    // Never less than a day: minutes of traffic are not multiplied by thousands.
    expect(observedDays(late, T0, T0 + 10 * DAY_MS + 10 * MINUTE)).toBe(1);
  });

  it("keeps to the window, sorts by saving, and notes unpriced requests and overlaps", () => {
    const caching = repeatedPrompts(MINUTE).map((r) => ({ ...r, costUsd: 0.01 }));
    const batch = Array.from({ length: 10 }, (_, i) =>
      req({ time: T0 + i * MINUTE, tag: "etl", stream: false, costUsd: 1 }),
    );
    const outside = Array.from({ length: 10 }, () =>
      req({ time: T0 + 5 * DAY_MS, tag: "late", stream: false, costUsd: 50 }),
    );
    const unpriced = req({
      anthropicName: null,
      modelRequested: "acme-ft",
      modelResolved: "acme.ft-v1",
      costUsd: null,
      inputTokens: 10,
    });
    const report = advise([...caching, ...batch, ...outside, unpriced], options());
    expect(report.requests).toBe(23);
    expect(report.days).toBe(2);
    expect(report.spendUsd).toBeCloseTo(12 * 0.01 + 10, 10);
    expect(report.unpricedRequests).toBe(1);
    // Batch: $5 over 2 days ($75 a month); caching $0.0965 ($1.45); provisioned: no quote, last.
    expect(report.items.map((i) => i.kind)).toEqual(["batch", "prompt-caching", "provisioned-throughput"]);
    expect(report.items[0]!.monthlySavingUsd).toBeCloseTo(75, 10);
    expect(report.items.some((i) => i.scope.tag === "late")).toBe(false);
    expect(report.notes).toEqual([
      expect.stringContaining("1 request has no price (acme.ft-v1)"),
      expect.stringContaining("do not add them up"),
    ]);
  });
});
