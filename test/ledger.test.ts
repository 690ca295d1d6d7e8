/**
 * Issue 5's "Done when" for the ledger, over real HTTP: `createClient()` with a SQLite ledger file
 * against the local Bedrock emulator, with faults, retries and failovers, and the ledger compared
 * with what the emulator billed (`emulator.usage()`, its request log) and with `data/prices.json`
 * by hand. Also: a process killed with SIGKILL under load loses no completed request, and the
 * schema's versioning. No mocks: the transport, the attempt loop, the recorder and the store run
 * as shipped.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type Anthropic from "@anthropic-ai/sdk";
import type { MessageCreateParamsNonStreaming, TextBlockParam } from "@anthropic-ai/sdk/resources/messages";
import Database from "better-sqlite3";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type CreateClientOptions, createClient } from "../src/client.js";
import { type RequestRecord, startEmulator, type UsageTotals } from "../src/emulator/index.js";
import { type CatalogData, ModelCatalog } from "../src/models/catalog.js";
import type { TargetOptions } from "../src/transport/target.js";
import type { LedgerAttempt, LedgerRequest, LedgerStore } from "../src/usage/ledger.js";
import { openLedger } from "../src/usage/open-ledger.js";
import { LEDGER_SCHEMA_VERSION, SqliteLedger } from "../src/usage/sqlite-ledger.js";
import { seededRandom } from "../src/util/random.js";
import { eventually, useEmulator } from "./helpers.js";

const emulator = useEmulator({ seed: 5, config: { requestLogSize: 100_000 } });

const root = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), "bedrock-claude-ledger-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The figures of the mixed run, printed at the end for the report. */
const figures: Record<string, unknown> = {};
afterAll(() => {
  console.info(`ledger figures: ${JSON.stringify(figures, null, 2)}`);
});

beforeEach(() => {
  emulator.current.clearFaults();
  emulator.current.resetJournal();
});

function bedrock(region: string, extra: Partial<TargetOptions> = {}): TargetOptions {
  return {
    provider: "bedrock",
    region,
    endpoint: emulator.current.url,
    credentials: {
      accessKeyId: emulator.current.credentials.accessKeyId,
      secretAccessKey: emulator.current.credentials.secretAccessKey,
    },
    ...extra,
  };
}

function anthropicTarget(): TargetOptions {
  return {
    provider: "anthropic",
    endpoint: emulator.current.url,
    apiKey: emulator.current.credentials.anthropicApiKey,
  };
}

/** A client writing to `file`; warnings collected (a ledger write error would show here). */
function client(
  file: string,
  targets: TargetOptions[],
  warnings: string[],
  extra: Partial<CreateClientOptions> = {},
): Anthropic {
  return createClient({
    targets,
    discovery: false,
    ledger: { path: file },
    warn: (message) => warnings.push(message),
    ...extra,
  });
}

/**
 * A system prompt of about `words` tokens (the emulator counts one token per short word): 5,000
 * clears every model's minimum cacheable prefix (4,096 for Haiku 4.5, data/bedrock.json).
 */
function longText(label: string, words = 5_000): string {
  const out = [`Policy ${label}.`];
  for (let i = 0; i < words; i++) out.push(`w${(i * 7919) % 9973}`);
  return out.join(" ");
}

function cachedSystem(text: string, ttl?: "5m" | "1h"): TextBlockParam[] {
  return [{ type: "text", text, cache_control: { type: "ephemeral", ...(ttl ? { ttl } : {}) } }];
}

/** Runs `task(0..count-1)`, `concurrency` at a time. */
async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

interface Tokens {
  input: number;
  output: number;
  cacheWrite: number;
  cacheRead: number;
}

const ZERO: Tokens = { input: 0, output: 0, cacheWrite: 0, cacheRead: 0 };

function ledgerTokens(u: LedgerRequest | LedgerAttempt): Tokens {
  return {
    input: u.inputTokens,
    output: u.outputTokens,
    cacheWrite: u.cacheWriteTokens,
    cacheRead: u.cacheReadTokens,
  };
}

function emulatorTokens(r: RequestRecord): Tokens {
  return {
    input: r.inputTokens,
    output: r.outputTokens,
    cacheWrite: r.cacheWriteInputTokens,
    cacheRead: r.cacheReadInputTokens,
  };
}

const total = (t: Tokens) => t.input + t.output + t.cacheWrite + t.cacheRead;
const same = (a: Tokens, b: Tokens) =>
  a.input === b.input &&
  a.output === b.output &&
  a.cacheWrite === b.cacheWrite &&
  a.cacheRead === b.cacheRead;

function add(map: Map<string, Tokens>, key: string, t: Tokens): void {
  const sum = map.get(key) ?? { ...ZERO };
  sum.input += t.input;
  sum.output += t.output;
  sum.cacheWrite += t.cacheWrite;
  sum.cacheRead += t.cacheRead;
  map.set(key, sum);
}

/** The messages calls the emulator saw on bedrock-runtime (InvokeModel and its stream). */
function runtimeCalls(): RequestRecord[] {
  return emulator.current.requests().filter((r) => r.api === "bedrock-runtime");
}

/** A short summary of a ledger request, for failure messages. */
function summary(r: LedgerRequest) {
  return {
    upstreamRequestId: r.upstreamRequestId,
    region: r.region,
    model: r.modelResolved,
    stream: r.stream,
    status: r.status,
    errorName: r.errorName,
    partial: r.partial,
    tokens: ledgerTokens(r),
    attempts: r.attempts.map((a) => ({
      attempt: a.attempt,
      target: a.target,
      status: a.status,
      errorName: a.errorName,
      verdict: a.verdict,
      tokens: ledgerTokens(a),
    })),
  };
}

// --- Prices, by hand from the data file -------------------------------------------------------

interface PriceEntry {
  input: number;
  output: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  cacheRead: number;
}

interface PriceFile {
  models: {
    anthropicName: string;
    anthropic?: PriceEntry;
    bedrock?: { global?: PriceEntry; regional?: PriceEntry; extendedAccess?: PriceEntry };
  }[];
}

const PRICES = JSON.parse(readFileSync(path.join(root, "data/prices.json"), "utf8")) as PriceFile;

function priceOf(anthropicName: string, block: "anthropic" | "global" | "regional"): PriceEntry {
  const entry = PRICES.models.find((m) => m.anthropicName === anthropicName);
  const price = block === "anthropic" ? entry?.anthropic : entry?.bedrock?.[block];
  if (!price) throw new Error(`no ${block} price for ${anthropicName} in data/prices.json`);
  return price;
}

/** USD for tokens at a price per million; `write1h` of the cache writes at the one-hour rate. */
function usd(t: Tokens, price: PriceEntry, write1h = 0): number {
  return (
    t.input * (price.input / 1e6) +
    t.output * (price.output / 1e6) +
    (t.cacheWrite - write1h) * (price.cacheWrite5m / 1e6) +
    write1h * (price.cacheWrite1h / 1e6) +
    t.cacheRead * (price.cacheRead / 1e6)
  );
}

/** Which price block a Bedrock call pays: the id it used (global. at list price, else regional). */
function blockFor(r: LedgerRequest): "anthropic" | "global" | "regional" {
  if (r.provider === "anthropic") return "anthropic";
  return r.modelResolved?.startsWith("global.") ? "global" : "regional";
}

// --- (a) the mixed run --------------------------------------------------------------------------

const MODELS = ["claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-7"] as const;
const ANTHROPIC_NAMES: Record<string, string> = {
  "claude-sonnet-4-6": "claude-sonnet-4-6",
  "claude-haiku-4-5": "claude-haiku-4-5-20251001",
  "claude-opus-4-7": "claude-opus-4-7",
};
const REQUESTS = 2_000;
const CONCURRENCY = 16;

/** Problems found, grouped by kind: a count and the first few offending records of each. */
function grouped(problems: { problem: string; [k: string]: unknown }[]) {
  const out: Record<string, { count: number; examples: unknown[] }> = {};
  for (const p of problems) {
    out[p.problem] ??= { count: 0, examples: [] };
    const group = out[p.problem]!;
    group.count++;
    if (group.examples.length < 3) group.examples.push(p);
  }
  return out;
}

describe(`mixed run: ${REQUESTS} requests, the ledger against the emulator's bill`, () => {
  const file = path.join(dir, "mixed.db");
  const warnings: string[] = [];
  const outcomes = { ok: 0, streamsCompleted: 0, failed: 0, streamsCut: 0, maxTokensStops: 0 };
  let requests: LedgerRequest[] = [];
  /** Snapshots of the emulator's log and totals (the suite's beforeEach clears them). */
  let calls: RequestRecord[] = [];
  let usage: UsageTotals[] = [];
  let byUpstreamId = new Map<string | null, LedgerRequest>();

  beforeAll(async () => {
    emulator.current.resetJournal();
    emulator.current.setFaults({
      seed: 55,
      rules: [
        // The primary region fails part of the time: retries, then failover to eu-west-1.
        { error: "ServiceUnavailableException", rate: 0.3, region: "us-east-1" },
        { error: "ThrottlingException", rate: 0.2 },
        // Streams cut after message_start, content_block_start and one delta: input billed, no output.
        { error: "ModelStreamErrorException", rate: 0.1, afterEvents: 3 },
        // Before any answer (requests and streams alike).
        { error: "ConnectionReset", rate: 0.02 },
        // Streams: after message_start and content_block_start; requests: before any answer. The
        // emulator bills a cut stream's input once message_start went out: the client must then be
        // able to have seen it, or no client-side ledger can agree with the bill.
        { error: "ConnectionReset", rate: 0.02, afterEvents: 2 },
      ],
    });
    // Breakers that open now and then, briefly: skipped attempts appear in the ledger too.
    const resilience = {
      retry: { baseMs: 1, capMs: 10 },
      breaker: { consecutiveFailures: 4, openMs: 30, maxOpenMs: 60 },
    };
    const clients = [
      // The failover chain: us-east-1 (us. profiles), then eu-west-1 (eu. profiles).
      client(file, [bedrock("us-east-1"), bedrock("eu-west-1")], warnings, { resilience, tag: "chain" }),
      // us-east-1 through global. profiles.
      client(file, [bedrock("us-east-1", { geography: "global" })], warnings, { resilience, tag: "global" }),
      // eu-west-1 alone.
      client(file, [bedrock("eu-west-1")], warnings, { resilience, tag: "eu" }),
    ];
    const systems = ["A", "B", "C"].map((label) => longText(`mixed ${label}`));
    const draw = seededRandom(2_000);

    const started = performance.now();
    await pool(REQUESTS, CONCURRENCY, async (i) => {
      const c = clients[draw() < 0.5 ? 0 : draw() < 0.5 ? 1 : 2]!;
      const model = MODELS[Math.floor(draw() * MODELS.length)]!;
      const stream = draw() < 0.5;
      const answerTokens = 5 + Math.floor(draw() * 60);
      const cut = draw() < 0.1;
      const cached = draw() < 0.3;
      const params: MessageCreateParamsNonStreaming = {
        model,
        max_tokens: cut ? Math.max(1, Math.floor(answerTokens / 2)) : 256,
        messages: [{ role: "user", content: `Request ${i}. [[tokens=${answerTokens}]]` }],
        ...(cached
          ? {
              system: cachedSystem(
                systems[Math.floor(draw() * systems.length)]!,
                draw() < 0.2 ? "1h" : undefined,
              ),
            }
          : {}),
      };
      try {
        if (!stream) {
          const message = await c.messages.create(params);
          outcomes.ok++;
          if (message.stop_reason === "max_tokens") outcomes.maxTokensStops++;
          return;
        }
        const events = await c.messages.create({ ...params, stream: true });
        let stop: string | null = null;
        for await (const event of events) if (event.type === "message_delta") stop = event.delta.stop_reason;
        outcomes.streamsCompleted++;
        if (stop === "max_tokens") outcomes.maxTokensStops++;
      } catch {
        if (stream) outcomes.streamsCut++;
        else outcomes.failed++;
      }
    });
    const seconds = (performance.now() - started) / 1000;

    const store = openLedger({ path: file })!;
    // A stream is recorded (and billed) as its end passes; let both settle.
    requests = await eventually(
      () => store.requests({}),
      (r) => r.length >= REQUESTS,
      2_000,
    );
    const made = requests.reduce((n, r) => n + r.attempts.filter((a) => a.verdict !== "skipped").length, 0);
    await eventually(runtimeCalls, (c) => c.length >= made, 2_000);
    await delay(100);
    requests = store.requests({});
    calls = [...runtimeCalls()];
    usage = emulator.current.usage().map((u) => ({ ...u }));
    byUpstreamId = new Map(requests.map((r) => [r.upstreamRequestId, r]));
    const emulatorErrors = (name: string) => calls.filter((c) => c.errorName === name).length;
    figures.mixed = {
      requests: requests.length,
      seconds: Number(seconds.toFixed(1)),
      outcomes,
      upstreamCalls: calls.length,
      ledgerAttempts: requests.reduce((n, r) => n + r.attempts.length, 0),
      skippedAttempts: requests.reduce(
        (n, r) => n + r.attempts.filter((a) => a.verdict === "skipped").length,
        0,
      ),
      retried: requests.filter((r) => r.attempts.length > 1).length,
      failovers: requests.filter((r) => r.failover).length,
      partial: requests.filter((r) => r.partial).length,
      throttled: emulatorErrors("ThrottlingException"),
      unavailable: emulatorErrors("ServiceUnavailableException"),
      streamErrors: emulatorErrors("ModelStreamErrorException"),
      resets: emulatorErrors("ConnectionReset"),
      cacheWrites: requests.filter((r) => r.cacheWriteTokens > 0).length,
      cacheReads: requests.filter((r) => r.cacheReadTokens > 0).length,
      ledgerWarnings: warnings.filter((w) => w.includes("ledger")),
    };
  }, 90_000);

  it("one record per request, none lost to a write error", () => {
    expect(warnings.filter((w) => w.includes("ledger"))).toEqual([]);
    expect(requests).toHaveLength(REQUESTS);
    expect(new Set(requests.map((r) => r.tag))).toEqual(new Set(["chain", "global", "eu"]));
  });

  it("every call the emulator billed is in the ledger with the same tokens, and nothing else is", () => {
    const callById = new Map(calls.map((c) => [c.requestId, c]));
    const problems: { problem: string; [k: string]: unknown }[] = [];
    for (const call of calls) {
      const billed = emulatorTokens(call);
      if (total(billed) === 0) continue;
      const entry = byUpstreamId.get(call.requestId);
      if (!entry) {
        problems.push({
          problem: `billed upstream (${call.outcome}${call.stream ? ", stream" : ""}), missing from the ledger`,
          emulator: call,
        });
      } else if (!same(ledgerTokens(entry), billed))
        problems.push({ problem: "tokens differ", emulator: call, ledger: summary(entry) });
    }
    for (const entry of requests) {
      if (total(ledgerTokens(entry)) === 0) continue;
      const call = entry.upstreamRequestId ? callById.get(entry.upstreamRequestId) : undefined;
      if (!call || total(emulatorTokens(call)) === 0)
        problems.push({
          problem: "ledger tokens the emulator did not bill",
          ledger: summary(entry),
          emulator: call,
        });
    }
    expect(grouped(problems)).toEqual({});
  });

  it("ledger totals per region and model id equal the emulator's billed totals (api bedrock-runtime)", () => {
    const ledgerTotals = new Map<string, Tokens>();
    for (const r of requests) {
      if (r.provider === "bedrock" && total(ledgerTokens(r)) > 0)
        add(ledgerTotals, `${r.region} ${r.modelResolved}`, ledgerTokens(r));
    }
    const emulatorTotals = new Map<string, Tokens>();
    for (const u of usage) {
      expect(u.api).toBe("bedrock-runtime");
      add(emulatorTotals, `${u.region} ${u.model}`, {
        input: u.inputTokens,
        output: u.outputTokens,
        cacheWrite: u.cacheWriteInputTokens,
        cacheRead: u.cacheReadInputTokens,
      });
    }
    figures.totals = Object.fromEntries(emulatorTotals);
    expect(Object.fromEntries(ledgerTotals)).toEqual(Object.fromEntries(emulatorTotals));
    // Three models in us-east-1 (us. and global. profiles) and eu-west-1 (eu.): nine keys.
    expect(new Set([...emulatorTotals.keys()].map((k) => k.split(" ")[0]))).toEqual(
      new Set(["us-east-1", "eu-west-1"]),
    );
    expect(emulatorTotals.size).toBe(9);
  });

  it("every upstream attempt is in the ledger; failed ones carry no tokens; tokens are never double-counted", () => {
    const problems: { problem: string; [k: string]: unknown }[] = [];
    for (const r of requests) {
      const sum = { ...ZERO };
      for (const a of r.attempts) {
        const t = ledgerTokens(a);
        sum.input += t.input;
        sum.output += t.output;
        sum.cacheWrite += t.cacheWrite;
        sum.cacheRead += t.cacheRead;
        if (a.verdict !== "success" && (total(t) > 0 || a.cacheWrite1hTokens > 0 || a.costUsd !== 0))
          problems.push({ problem: "a failed attempt carries tokens or cost", request: summary(r) });
      }
      if (!same(sum, ledgerTokens(r)))
        problems.push({ problem: "attempt tokens do not add up to the request's", request: summary(r) });
      if (r.attempts.filter((a) => total(ledgerTokens(a)) > 0).length > 1)
        problems.push({ problem: "tokens on more than one attempt", request: summary(r) });
      const numbers = r.attempts.filter((a) => a.verdict !== "skipped").map((a) => a.attempt);
      if (numbers.some((n, k) => n !== k + 1))
        problems.push({ problem: "attempts not numbered 1..n", request: summary(r) });
      if (r.failover && (r.attempts[0]?.target !== "bedrock us-east-1" || r.region !== "eu-west-1"))
        problems.push({ problem: "failover not from us-east-1 to eu-west-1", request: summary(r) });
      if (r.attempts.length === 0) problems.push({ problem: "no attempt", request: summary(r) });
    }
    expect(grouped(problems)).toEqual({});

    // One ledger attempt per upstream call (skipped attempts never left the process).
    const attempts = requests.flatMap((r) => r.attempts.filter((a) => a.verdict !== "skipped"));
    expect(attempts).toHaveLength(calls.length);
    const count = (name: string, status?: number) =>
      calls.filter((c) => c.errorName === name && (status === undefined || c.status === status)).length;
    for (const name of ["ThrottlingException", "ServiceUnavailableException"])
      expect(attempts.filter((a) => a.errorName === name).length, name).toBe(count(name));
    // Connections reset before any answer: attempts without a status.
    expect(attempts.filter((a) => a.status === null).length).toBe(count("ConnectionReset", 0));
    // Retries and failovers really happened, and skipped targets (open breakers) are visible.
    expect(requests.filter((r) => r.attempts.length > 1).length).toBeGreaterThan(200);
    expect(requests.filter((r) => r.failover).length).toBeGreaterThan(50);
    expect(requests.some((r) => r.attempts.some((a) => a.verdict === "skipped"))).toBe(true);
  });

  it("streams cut part-way bill their input once message_start arrived, and no output", () => {
    const cut = calls.filter((c) => c.stream && c.status === 200 && c.outcome !== "completed");
    expect(cut.filter((c) => c.errorName === "ModelStreamErrorException").length).toBeGreaterThan(20);
    expect(cut.filter((c) => c.errorName === "ConnectionReset").length).toBeGreaterThan(0);
    const problems: { problem: string; [k: string]: unknown }[] = [];
    for (const call of cut) {
      const entry = byUpstreamId.get(call.requestId);
      if (!entry) problems.push({ problem: `${call.errorName} stream not in the ledger`, emulator: call });
      else if (!entry.partial || entry.outputTokens !== 0 || entry.inputTokens !== call.inputTokens)
        problems.push({
          problem: `${call.errorName} stream recorded wrong`,
          emulator: call,
          ledger: summary(entry),
        });
    }
    expect(grouped(problems)).toEqual({});
  });

  it("every request is priced from data/prices.json by the id it used", () => {
    const problems: { problem: string; [k: string]: unknown }[] = [];
    for (const r of requests) {
      const t = ledgerTokens(r);
      if (r.anthropicName !== ANTHROPIC_NAMES[r.modelRequested])
        problems.push({ problem: "anthropic name", request: summary(r) });
      if (total(t) === 0) {
        if (r.costUsd !== 0) problems.push({ problem: "zero tokens, cost not 0", request: summary(r) });
        continue;
      }
      const expected = usd(t, priceOf(r.anthropicName ?? "?", blockFor(r)), r.cacheWrite1hTokens);
      if (r.costUsd === null || Math.abs(r.costUsd - expected) > 1e-9)
        problems.push({ problem: "cost", expected, costUsd: r.costUsd, request: summary(r) });
    }
    expect(grouped(problems)).toEqual({});
    expect(
      requests.filter((r) => r.modelResolved?.startsWith("global.") && r.costUsd! > 0).length,
    ).toBeGreaterThan(0);
  });

  it("the mix had streams, caching and max_tokens stops, as planned", () => {
    expect(requests.filter((r) => r.stream).length).toBeGreaterThan(800);
    expect(requests.filter((r) => r.cacheReadTokens > 0).length).toBeGreaterThan(100);
    expect(requests.filter((r) => r.cacheWriteTokens > 0).length).toBeGreaterThan(0);
    expect(requests.filter((r) => r.stopReason === "max_tokens").length).toBe(outcomes.maxTokensStops);
    expect(outcomes.maxTokensStops).toBeGreaterThan(50);
    expect(outcomes.ok + outcomes.streamsCompleted).toBeGreaterThan(REQUESTS * 0.8);
  });
});

// --- (b) costs by hand --------------------------------------------------------------------------

describe("costs equal the price table, by hand", () => {
  const file = path.join(dir, "costs.db");
  const warnings: string[] = [];

  interface Case {
    c: Anthropic;
    model: string;
    system?: TextBlockParam[];
  }

  /** Two calls with the same cached prefix (a cache write, then a read); their ledger records. */
  async function twice({
    c,
    model,
    system,
  }: Case): Promise<{ records: LedgerRequest[]; calls: RequestRecord[] }> {
    const ids: string[] = [];
    for (const n of [1, 2]) {
      const { request_id } = await c.messages
        .create({
          model,
          max_tokens: 64,
          messages: [{ role: "user", content: `Cost check ${n}. [[tokens=${20 + n}]]` }],
          ...(system ? { system } : {}),
        })
        .withResponse();
      ids.push(request_id!);
    }
    const all = openLedger({ path: file })!.requests({});
    const records = ids.map((id) => all.find((r) => r.upstreamRequestId === id)!);
    const calls = ids.map((id) => emulator.current.requests().find((r) => r.requestId === id)!);
    expect(records.every(Boolean)).toBe(true);
    expect(calls.every(Boolean)).toBe(true);
    // The ledger's tokens are the emulator's bill.
    for (const [i, r] of records.entries()) expect(ledgerTokens(r)).toEqual(emulatorTokens(calls[i]!));
    return { records, calls };
  }

  function expectCost(record: LedgerRequest, expected: number): void {
    expect(record.costUsd).not.toBeNull();
    expect(Math.abs(record.costUsd! - expected), `cost ${record.costUsd} vs ${expected}`).toBeLessThan(1e-9);
    // The answering attempt carries the same cost; the request's cost is not counted twice.
    const answered = record.attempts.filter((a) => a.verdict === "success");
    expect(answered).toHaveLength(1);
    expect(Math.abs(answered[0]!.costUsd! - expected)).toBeLessThan(1e-9);
  }

  it("global. profile: Sonnet 4.6 at list price (cache write, then read)", async () => {
    const c = client(file, [bedrock("us-east-1", { geography: "global" })], warnings);
    const { records, calls } = await twice({
      c,
      model: "claude-sonnet-4-6",
      system: cachedSystem(longText("cost global")),
    });
    const price = priceOf("claude-sonnet-4-6", "global");
    expect(price.input).toBe(3);
    expect(records[0]!.modelResolved).toBe("global.anthropic.claude-sonnet-4-6");
    expect(calls[0]!.cacheWriteInputTokens).toBeGreaterThan(4_000);
    expect(calls[1]!.cacheReadInputTokens).toBeGreaterThan(4_000);
    // By hand: input 3, output 15, cache write 3.75, cache read 0.30 USD per million.
    const [first, second] = calls.map(emulatorTokens) as [Tokens, Tokens];
    expectCost(
      records[0]!,
      (first.input * 3 + first.output * 15 + first.cacheWrite * 3.75 + first.cacheRead * 0.3) / 1e6,
    );
    expectCost(records[1]!, usd(second, price));
  });

  it("us. profile: Haiku 4.5 at the regional price (10% over global)", async () => {
    const c = client(file, [bedrock("us-west-2")], warnings);
    const { records, calls } = await twice({
      c,
      model: "claude-haiku-4-5",
      system: cachedSystem(longText("cost us")),
    });
    expect(records[0]!.modelResolved).toBe("us.anthropic.claude-haiku-4-5-20251001-v1:0");
    expect(records[0]!.region).toBe("us-west-2");
    const price = priceOf("claude-haiku-4-5-20251001", "regional");
    const global = priceOf("claude-haiku-4-5-20251001", "global");
    expect(price.input).toBeCloseTo(global.input * 1.1, 12);
    expect(calls[1]!.cacheReadInputTokens).toBeGreaterThan(4_000);
    for (const [i, r] of records.entries()) expectCost(r, usd(emulatorTokens(calls[i]!), price));
  });

  it("in-region id: Sonnet 4.6 in eu-west-2 (anthropic.claude-sonnet-4-6) at the regional price", async () => {
    const c = client(file, [bedrock("eu-west-2", { geography: "in-region" })], warnings);
    const { records, calls } = await twice({ c, model: "claude-sonnet-4-6" });
    expect(records[0]!.modelResolved).toBe("anthropic.claude-sonnet-4-6");
    const price = priceOf("claude-sonnet-4-6", "regional");
    expect(price.input).toBeCloseTo(3.3, 12);
    for (const [i, r] of records.entries()) expectCost(r, usd(emulatorTokens(calls[i]!), price));
  });

  it("the Anthropic API: Opus 4.7 at Anthropic's price, one-hour cache writes at their rate", async () => {
    const c = client(file, [anthropicTarget()], warnings);
    const { records, calls } = await twice({
      c,
      model: "claude-opus-4-7",
      system: cachedSystem(longText("cost anthropic"), "1h"),
    });
    expect(records[0]!.provider).toBe("anthropic");
    expect(records[0]!.region).toBe("anthropic");
    expect(calls[0]!.api).toBe("anthropic");
    // The only breakpoint has a one-hour TTL: every cache write is a one-hour write.
    expect(records[0]!.cacheWriteTokens).toBeGreaterThan(4_000);
    expect(records[0]!.cacheWrite1hTokens).toBe(records[0]!.cacheWriteTokens);
    const price = priceOf("claude-opus-4-7", "anthropic");
    expect(price.cacheWrite1h).toBe(price.input * 2);
    for (const [i, r] of records.entries())
      expectCost(r, usd(emulatorTokens(calls[i]!), price, i === 0 ? calls[0]!.cacheWriteInputTokens : 0));
  });

  it("a model with no price: cost null (unknown), never 0, and counted as unpriced", async () => {
    // A catalog that knows a model the price table does not (a model newer than data/prices.json).
    const data = JSON.parse(readFileSync(path.join(root, "data/models.json"), "utf8")) as CatalogData;
    const sonnet = data.models.find((m) => m.anthropicName === "claude-sonnet-4-6")!;
    const catalog = new ModelCatalog({
      ...data,
      models: [...data.models, { ...sonnet, anthropicName: "claude-sonnet-4-6-unpriced", aliases: [] }],
    });
    const c = client(file, [bedrock("us-east-1")], warnings, { catalog });
    const { records, calls } = await twice({ c, model: "claude-sonnet-4-6-unpriced" });
    for (const [i, r] of records.entries()) {
      expect(r.anthropicName).toBe("claude-sonnet-4-6-unpriced");
      expect(total(emulatorTokens(calls[i]!))).toBeGreaterThan(0);
      expect(r.costUsd).toBeNull();
    }
    const row = openLedger({ path: file })!
      .report({ by: ["model"], model: "claude-sonnet-4-6-unpriced" })
      .find((x) => x.group.model === "claude-sonnet-4-6-unpriced");
    expect(row).toMatchObject({ requests: 2, unpricedRequests: 2, costUsd: 0 });
    expect(row!.inputTokens).toBe(calls[0]!.inputTokens + calls[1]!.inputTokens);
  });

  it("an inference-profile ARN is priced as the profile it names", async () => {
    // A system profile's ARN names a model the catalog knows: its cost is known, not null.
    const arn = "arn:aws:bedrock:us-east-1:000000000000:inference-profile/us.anthropic.claude-sonnet-4-6";
    const c = client(file, [bedrock("us-east-1")], warnings);
    const { records, calls } = await twice({ c, model: arn });
    expect(records[0]!.modelResolved).toBe(arn);
    const price = priceOf("claude-sonnet-4-6", "regional");
    for (const [i, r] of records.entries()) expectCost(r, usd(emulatorTokens(calls[i]!), price));
  });

  it("no ledger write failed", () => {
    expect(warnings.filter((w) => w.includes("ledger"))).toEqual([]);
  });
});

// --- streams of the Messages API: recorded from their SSE --------------------------------------

describe("streams from the Messages API (bedrock-runtime's /anthropic and the Anthropic API), recorded from their SSE", () => {
  it("complete, cut and left streams equal the emulator's bill; a stream the client leaves is partial", async () => {
    const file = path.join(dir, "sse.db");
    const warnings: string[] = [];
    emulator.current.setFaults({
      seed: 21,
      rules: [{ error: "ConnectionReset", rate: 0.25, afterEvents: 2 }],
    });
    const clients = [
      client(file, [bedrock("us-east-1", { bedrockApi: "messages" })], warnings, {
        resilience: { retry: { maxAttempts: 1 } },
      }),
      client(file, [anthropicTarget()], warnings, { resilience: { retry: { maxAttempts: 1 } } }),
    ];
    const ids: { id: string; left: boolean }[] = [];
    for (let i = 0; i < 60; i++) {
      const left = i % 10 === 9;
      // A stream the client leaves is a long one: a short answer arrives whole in one read, before
      // the client sees its first event, and is then rightly recorded as complete.
      const { data: stream, request_id } = await clients[i % 2]!.messages.create({
        model: "claude-haiku-4-5",
        max_tokens: left ? 4096 : 256,
        stream: true,
        messages: [{ role: "user", content: `SSE ${i}. [[tokens=${left ? 3000 : 10 + (i % 30)}]]` }],
      })
        .withResponse()
        .catch(() => ({ data: undefined, request_id: undefined }));
      if (!request_id || !stream) continue;
      ids.push({ id: request_id, left });
      try {
        for await (const event of stream) if (left && event.type === "content_block_delta") break;
      } catch {
        // cut by the fault
      }
    }
    emulator.current.clearFaults();
    const records = openLedger({ path: file })!.requests({});
    const calls = emulator.current.requests();
    const cut = { complete: 0, cut: 0, left: 0, leftClosed: 0 };
    for (const { id, left } of ids) {
      const record = records.find((r) => r.upstreamRequestId === id);
      const call = calls.find((c) => c.requestId === id);
      expect(record, `stream ${id} not in the ledger`).toBeDefined();
      expect(call).toBeDefined();
      expect(record!.stream).toBe(true);
      if (left) {
        cut.left++;
        expect(record!.partial).toBe(true);
        // (or cut by the fault before the client could leave)
        expect(["client_closed", "stream_failed"]).toContain(record!.errorName);
        if (record!.errorName === "client_closed") cut.leftClosed++;
        // The input is billed; the output as far as the stream was read when the client left (the
        // emulator, unpaced, may have sent it all: its message_delta may or may not have passed).
        expect(record!.inputTokens).toBe(call!.inputTokens);
        expect([0, call!.outputTokens]).toContain(record!.outputTokens);
        continue;
      }
      expect(ledgerTokens(record!)).toEqual(emulatorTokens(call!));
      if (record!.partial) cut.cut++;
      else cut.complete++;
    }
    expect(cut.complete).toBeGreaterThan(20);
    expect(cut.cut).toBeGreaterThan(3);
    expect(cut.leftClosed).toBeGreaterThan(2);
    expect(warnings.filter((w) => w.includes("ledger"))).toEqual([]);
  });
});

// --- (c) SIGKILL under load ---------------------------------------------------------------------

describe("a process killed with SIGKILL under load", () => {
  it("loses no record of a request it completed", async () => {
    const file = path.join(dir, "sigkill.db");
    // Its own emulator, paced so that requests are in flight when the kill lands.
    const upstream = await startEmulator({
      port: 0,
      seed: 9,
      config: { pace: { firstByteMs: 1, eventMs: 1 } },
    });
    try {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", path.join(root, "test/fixtures/ledger-child.ts"), upstream.url, file],
        { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
      );
      let out = "";
      let err = "";
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      child.stderr.on("data", (chunk: Buffer) => {
        err += chunk.toString();
      });
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        child.on("exit", (_code, signal) => resolve(signal)),
      );
      const lines = () => out.split("\n").length - 1;
      // Under load: wait for 300 completed requests (8 in flight all along), then kill.
      const deadline = Date.now() + 30_000;
      while (lines() < 300 && Date.now() < deadline && child.exitCode === null) await delay(10);
      expect(lines(), `the child completed too few requests; stderr: ${err}`).toBeGreaterThanOrEqual(300);
      child.kill("SIGKILL");
      expect(await exited).toBe("SIGKILL");

      // Complete lines only: the last one may have been cut by the kill.
      const reported = out
        .split("\n")
        .slice(0, -1)
        .map(
          (line) =>
            JSON.parse(line) as {
              requestId: string;
              stream: boolean;
              input: number;
              output: number;
              cacheWrite: number;
              cacheRead: number;
            },
        );
      // The next process to open the ledger moves in what the killed one left in its journal
      // (records reach SQLite in batches; each is in the journal before its caller sees the end).
      const journals = () => readdirSync(dir).filter((n) => n.startsWith("sigkill.db.journal-"));
      const count = () => {
        const raw = new Database(file, { readonly: true });
        try {
          return (raw.prepare("SELECT COUNT(*) AS n FROM requests").get() as { n: number }).n;
        } finally {
          raw.close();
        }
      };
      const before = count();
      const journaled = journals().map(
        (n) => readFileSync(path.join(dir, n), "utf8").split("\n").filter(Boolean).length,
      );
      new SqliteLedger(file).close();
      figures.sigkillJournal = {
        journalLines: journaled,
        inSqliteAtKill: before,
        movedFromJournal: count() - before,
      };
      expect(journals()).toEqual([]);
      const db = new Database(file);
      try {
        expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
        const rows = db
          .prepare(
            "SELECT upstream_request_id AS id, stream, input_tokens AS input, output_tokens AS output, cache_write_tokens AS cacheWrite, cache_read_tokens AS cacheRead, partial FROM requests",
          )
          .all() as {
          id: string;
          stream: number;
          input: number;
          output: number;
          cacheWrite: number;
          cacheRead: number;
          partial: number;
        }[];
        const byId = new Map(rows.map((r) => [r.id, r]));
        const missing = reported.filter((r) => !byId.has(r.requestId));
        expect(missing, `${missing.length} of ${reported.length} completed requests missing`).toEqual([]);
        for (const r of reported) {
          const row = byId.get(r.requestId)!;
          expect({ ...row, id: undefined, partial: undefined }).toEqual({
            id: undefined,
            partial: undefined,
            stream: r.stream ? 1 : 0,
            input: r.input,
            output: r.output,
            cacheWrite: r.cacheWrite,
            cacheRead: r.cacheRead,
          });
          expect(row.partial).toBe(0);
        }
        // Recorded but not yet reported: at most one request per worker (8) was between the two.
        expect(rows.length - reported.length).toBeGreaterThanOrEqual(0);
        expect(rows.length - reported.length).toBeLessThanOrEqual(8);
        figures.sigkill = {
          reported: reported.length,
          recorded: rows.length,
          upstreamCalls: upstream.requests().length,
        };
      } finally {
        db.close();
      }
    } finally {
      await upstream.close();
    }
  }, 45_000);
});

// --- (d) schema versions ------------------------------------------------------------------------

/** The tokens and cost of an `entry`, the request's and its one attempt's. */
const ENTRY_USAGE = {
  inputTokens: 100,
  outputTokens: 20,
  cacheWriteTokens: 0,
  cacheWrite1hTokens: 0,
  cacheReadTokens: 0,
  costUsd: 0.00066,
};

function entry(id: string, time = Date.now()): LedgerRequest {
  return {
    id,
    time,
    stream: false,
    provider: "bedrock",
    region: "us-east-1",
    target: "bedrock us-east-1",
    modelRequested: "claude-sonnet-4-6",
    modelResolved: "us.anthropic.claude-sonnet-4-6",
    anthropicName: "claude-sonnet-4-6",
    upstreamRequestId: `req-${id}`,
    key: null,
    tag: "migrations",
    status: 200,
    errorName: null,
    stopReason: "end_turn",
    partial: false,
    ...ENTRY_USAGE,
    firstByteMs: 5,
    totalMs: 9,
    failover: false,
    attempts: [
      {
        attempt: 1,
        target: "bedrock us-east-1",
        provider: "bedrock",
        region: "us-east-1",
        status: 200,
        errorName: null,
        verdict: "success",
        latencyMs: 5,
        ...ENTRY_USAGE,
      },
    ],
  };
}

describe("schema migrations", () => {
  const userVersion = (file: string) => {
    const db = new Database(file, { readonly: true });
    try {
      return db.pragma("user_version", { simple: true }) as number;
    } finally {
      db.close();
    }
  };

  it("a fresh file is created at LEDGER_SCHEMA_VERSION, in WAL mode", () => {
    const file = path.join(dir, "fresh", "ledger.db");
    const store = new SqliteLedger(file);
    store.close();
    expect(LEDGER_SCHEMA_VERSION).toBeGreaterThanOrEqual(1);
    expect(userVersion(file)).toBe(LEDGER_SCHEMA_VERSION);
    const db = new Database(file, { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
  });

  it("an empty SQLite file (version 0) is migrated", () => {
    const file = path.join(dir, "empty.db");
    new Database(file).close();
    expect(userVersion(file)).toBe(0);
    const store = new SqliteLedger(file);
    store.record(entry("e1"));
    store.close();
    expect(userVersion(file)).toBe(LEDGER_SCHEMA_VERSION);
  });

  it("reopening keeps the data and does not migrate again", () => {
    const file = path.join(dir, "reopen.db");
    let store: LedgerStore = new SqliteLedger(file);
    store.record(entry("r1", Date.UTC(2026, 10, 1)));
    store.record(entry("r2", Date.UTC(2026, 10, 2)));
    const before = store.report({ by: ["day"] });
    store.close();
    store = new SqliteLedger(file);
    expect(userVersion(file)).toBe(LEDGER_SCHEMA_VERSION);
    expect(store.requests({}).map((r) => r.id)).toEqual(["r1", "r2"]);
    expect(store.requests({})[0]).toEqual(entry("r1", Date.UTC(2026, 10, 1)));
    expect(store.report({ by: ["day"] })).toEqual(before);
    store.record(entry("r3"));
    expect(store.report({})[0]!.requests).toBe(3);
    store.close();
  });

  it("a file from a newer bedrock-claude is refused with a clear message, and left as it was", () => {
    const file = path.join(dir, "newer.db");
    const store = new SqliteLedger(file);
    store.record(entry("n1"));
    store.close();
    const newer = LEDGER_SCHEMA_VERSION + 1;
    const db = new Database(file);
    db.pragma(`user_version = ${newer}`);
    db.close();

    expect(() => new SqliteLedger(file)).toThrow(
      `The ledger ${file} has schema version ${newer}, newer than this bedrock-claude knows (${LEDGER_SCHEMA_VERSION}): upgrade bedrock-claude.`,
    );
    expect(userVersion(file)).toBe(newer);
    const check = new Database(file, { readonly: true });
    expect(check.prepare("SELECT COUNT(*) AS n FROM requests").get()).toEqual({ n: 1 });
    check.close();

    // A client given that file says so once and runs without a ledger (it never writes the file).
    const warnings: string[] = [];
    createClient({
      ...bedrock("us-east-1"),
      discovery: false,
      ledger: { path: file },
      warn: (m) => warnings.push(m),
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("the usage ledger could not be opened");
    expect(warnings[0]).toContain(`schema version ${newer}, newer than this bedrock-claude knows`);
  });
});
