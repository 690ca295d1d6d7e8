/**
 * Issue 4's "Done when", over real HTTP: `createClient()` (the official Anthropic SDK with our
 * transport as its `fetch`) against the local Bedrock emulator on 127.0.0.1, failing it on purpose
 * through the emulator's fault API and counting, in the emulator's own request log, what reached
 * the upstream. No mocks: retries, failover, breakers, limits and timeouts all run as shipped.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import {
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  BadRequestError,
  OverloadedError,
  RateLimitError,
} from "@anthropic-ai/sdk";
import type {
  Message,
  MessageCreateParamsNonStreaming,
  RawMessageStreamEvent,
} from "@anthropic-ai/sdk/resources/messages";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { type CreateClientOptions, createClient } from "../src/client.js";
import type { RequestRecord } from "../src/emulator/index.js";
import type { ResiliencePolicy } from "../src/resilience/policy.js";
import type { AttemptRecord } from "../src/transport/resilient.js";
import type { TargetOptions } from "../src/transport/target.js";
import { eventually, rejection, useEmulator } from "./helpers.js";

const MODEL = "claude-sonnet-4-6";
/** What InvokeModel sees for MODEL in a US region: the `us.` inference profile. */
const BEDROCK_MODEL = "us.anthropic.claude-sonnet-4-6";
/** Sonnet 4.6's output limit is 64,000 tokens (data/models.json). */
const ABOVE_MAX_TOKENS = 100_000;
const PRIMARY = "bedrock us-east-1";
const SECONDARY = "bedrock us-west-2";

/** An identity whose account has been granted access to no model: AccessDeniedException. */
const NO_ACCESS = { name: "no-model-access", accessKeyId: "AKIANOACCESSRES", secretAccessKey: "no-access" };

const emulator = useEmulator({ seed: 4, config: { identities: [{ ...NO_ACCESS, modelAccess: [] }] } });

/** The figures the issue asks for, printed at the end for the report. */
const figures: Record<string, unknown> = {};
afterAll(() => {
  console.info(`resilience figures: ${JSON.stringify(figures, null, 2)}`);
});

function bedrock(region: string, endpoint = () => emulator.current.url): TargetOptions {
  return {
    provider: "bedrock",
    region,
    endpoint: endpoint(),
    credentials: {
      accessKeyId: emulator.current.credentials.accessKeyId,
      secretAccessKey: emulator.current.credentials.secretAccessKey,
    },
  };
}

interface ClientSetup {
  targets: TargetOptions[];
  resilience?: ResiliencePolicy;
  attempts?: AttemptRecord[];
}

function client({ targets, resilience, attempts }: ClientSetup) {
  const options: CreateClientOptions = {
    targets,
    resilience,
    discovery: false,
    warn: () => undefined,
    ...(attempts ? { onAttempt: (attempt: AttemptRecord) => attempts.push(attempt) } : {}),
  };
  return createClient(options);
}

function params(overrides: Partial<MessageCreateParamsNonStreaming> = {}): MessageCreateParamsNonStreaming {
  return {
    model: MODEL,
    max_tokens: 64,
    messages: [{ role: "user", content: "Hello" }],
    ...overrides,
  };
}

function textOf(message: Pick<Message, "content">): string {
  return message.content.map((b) => (b.type === "text" ? b.text : "")).join("");
}

function deltaText(events: RawMessageStreamEvent[]): string {
  return events
    .map((e) => (e.type === "content_block_delta" && e.delta.type === "text_delta" ? e.delta.text : ""))
    .join("");
}

/** Messages calls the emulator saw (not the control plane or the admin API). */
function upstream(emu = emulator.current): RequestRecord[] {
  return emu.requests().filter((r) => r.api !== "control-plane" && r.api !== "admin" && r.api !== "sts");
}

const startOf = (r: RequestRecord) => Date.parse(r.time);

/** Entries of the `x-bedrock-claude-attempts` header. */
function headerEntries(response: Response): string[] {
  const header = response.headers.get("x-bedrock-claude-attempts");
  expect(header).toBeTruthy();
  return header!.split("; ");
}

beforeEach(() => {
  emulator.current.clearFaults();
  emulator.current.resetJournal();
});

describe("retries", () => {
  it("30% ThrottlingException on the only target: at least 999 of 1,000 succeed, at most 2,000 attempts", async () => {
    emulator.current.setFaults({ seed: 30, rules: [{ error: "ThrottlingException", rate: 0.3 }] });
    const attempts: AttemptRecord[] = [];
    const c = client({
      targets: [bedrock("us-east-1")],
      resilience: { retry: { baseMs: 2, capMs: 50 } },
      attempts,
    });
    let succeeded = 0;
    const failures: unknown[] = [];
    // Sequential: the seeded draws then fall on the same requests every run.
    for (let i = 0; i < 1_000; i++) {
      try {
        const message = await c.messages.create(params({ max_tokens: 16 }));
        expect(message.model).toBe(MODEL);
        succeeded++;
      } catch (error) {
        failures.push(error);
      }
    }
    const seen = upstream();
    const throttled = seen.filter((r) => r.errorName === "ThrottlingException").length;
    figures.a = { requests: 1_000, succeeded, upstreamAttempts: seen.length, throttled };
    expect(succeeded).toBeGreaterThanOrEqual(999);
    expect(seen.length).toBeLessThanOrEqual(2_000);
    // The faults were really there (about 30% of attempts), and every attempt was reported.
    expect(throttled / seen.length).toBeGreaterThan(0.25);
    expect(throttled / seen.length).toBeLessThan(0.35);
    expect(seen.filter((r) => r.status === 200)).toHaveLength(succeeded);
    expect(attempts).toHaveLength(seen.length);
    for (const failure of failures) expect(failure).toBeInstanceOf(RateLimitError);
  }, 45_000);

  it("maxAttempts bounds the attempts on a failing target", async () => {
    emulator.current.setFaults({ rules: [{ error: "ServiceUnavailableException", rate: 1 }] });
    const c = client({
      targets: [bedrock("us-east-1")],
      resilience: { retry: { maxAttempts: 3, baseMs: 2 }, breaker: false },
    });
    expect(await rejection(c.messages.create(params()))).toBeInstanceOf(OverloadedError);
    expect(upstream()).toHaveLength(3);
  });

  it("no attempt starts after deadlineMs", async () => {
    emulator.current.setFaults({ rules: [{ error: "ServiceUnavailableException", rate: 1 }] });
    const DEADLINE_MS = 150;
    const c = client({
      targets: [bedrock("us-east-1")],
      resilience: {
        retry: {
          maxAttempts: 1_000,
          baseMs: 20,
          capMs: 20,
          deadlineMs: DEADLINE_MS,
          budget: { minRetries: 1_000 },
        },
        breaker: false,
      },
    });
    const t0 = Date.now();
    expect(await rejection(c.messages.create(params()))).toBeInstanceOf(OverloadedError);
    const elapsed = Date.now() - t0;
    const seen = upstream();
    expect(seen.length).toBeGreaterThanOrEqual(5);
    expect(seen.length).toBeLessThan(100);
    for (const r of seen) expect(startOf(r) - t0).toBeLessThanOrEqual(DEADLINE_MS + 10);
    expect(elapsed).toBeLessThan(DEADLINE_MS + 150);
  });

  it("the retry budget keeps a dead target from being hammered, even without breakers", async () => {
    emulator.current.setFaults({ rules: [{ error: "ServiceUnavailableException", rate: 1 }] });
    const c = client({
      targets: [bedrock("us-east-1")],
      resilience: { retry: { baseMs: 1, capMs: 2, budget: { ratio: 0.2, minRetries: 2 } }, breaker: false },
    });
    const N = 50;
    for (let i = 0; i < N; i++)
      expect(await rejection(c.messages.create(params()))).toBeInstanceOf(OverloadedError);
    // Without the budget: 8 attempts each, 400 in all. With it: one each plus 2 + 0.2 per request.
    const seen = upstream().length;
    expect(seen).toBeGreaterThanOrEqual(N);
    expect(seen).toBeLessThanOrEqual(N + 2 + 0.2 * N);
    figures.budget = { requests: N, upstreamAttempts: seen, withoutBudget: N * 8 };
  });

  it("a ValidationException (max_tokens over the model's limit): exactly one upstream attempt, no failover", async () => {
    const attempts: AttemptRecord[] = [];
    const c = client({ targets: [bedrock("us-east-1"), bedrock("us-west-2")], attempts });
    // A timeout of our own: the SDK refuses non-streaming calls whose max_tokens could take over 10 minutes.
    const error = await rejection(
      c.messages.create(params({ max_tokens: ABOVE_MAX_TOKENS }), { timeout: 60_000 }),
    );
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as APIError).message).toContain("max_tokens");
    const seen = upstream();
    expect(seen).toHaveLength(1);
    expect(seen[0]!.errorName).toBe("ValidationException");
    expect(seen[0]!.region).toBe("us-east-1");
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({
      target: PRIMARY,
      errorName: "ValidationException",
      verdict: "fatal",
    });
  });
});

describe("streams", () => {
  it("a ModelStreamErrorException after 5 events: the caller gets the 5 events, then an error; one attempt", async () => {
    const request = params({ messages: [{ role: "user", content: "Break this stream [[tokens=90]]" }] });
    const attempts: AttemptRecord[] = [];
    const c = client({ targets: [bedrock("us-east-1"), bedrock("us-west-2")], attempts });
    const full = textOf(await c.messages.create(request));
    emulator.current.resetJournal();
    attempts.length = 0;

    emulator.current.setFaults({ rules: [{ error: "ModelStreamErrorException", rate: 1, afterEvents: 5 }] });
    const stream = await c.messages.create({ ...request, stream: true });
    const events: RawMessageStreamEvent[] = [];
    const error = await rejection(
      (async () => {
        for await (const event of stream) events.push(event);
      })(),
    );
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIError).message).toContain("ModelStreamErrorException");
    expect(events.map((e) => e.type)).toEqual([
      "message_start",
      "content_block_start",
      "content_block_delta",
      "content_block_delta",
      "content_block_delta",
    ]);
    // The three deltas' text, once: the start of the full answer, not a restart of it.
    const received = deltaText(events);
    expect(received.length).toBeGreaterThan(0);
    expect(full.startsWith(received)).toBe(true);
    expect(received.length).toBeLessThan(full.length);
    expect(full.split(received).length).toBe(2);
    // One upstream attempt, on the primary; no retry, no failover.
    await delay(50);
    const seen = upstream();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      region: "us-east-1",
      stream: true,
      errorName: "ModelStreamErrorException",
    });
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ target: PRIMARY, status: 200, verdict: "success" });
  });

  it("a stream throttled before its first event is retried, with the text once and complete", async () => {
    const request = params({ messages: [{ role: "user", content: "Stream me [[tokens=30]]" }] });
    const c = client({ targets: [bedrock("us-east-1")], resilience: { retry: { baseMs: 2 } } });
    const full = textOf(await c.messages.create(request));
    emulator.current.resetJournal();
    emulator.current.setFaults({
      seed: 9,
      rules: [{ error: "ThrottlingException", rate: 0.5, afterEvents: 0 }],
    });
    const N = 40;
    let retriedRequests = 0;
    for (let i = 0; i < N; i++) {
      const { data: stream, response } = await c.messages.create({ ...request, stream: true }).withResponse();
      const events: RawMessageStreamEvent[] = [];
      for await (const event of stream) events.push(event);
      expect(deltaText(events)).toBe(full);
      expect(events.filter((e) => e.type === "message_start")).toHaveLength(1);
      expect(events.at(-1)!.type).toBe("message_stop");
      const entries = headerEntries(response);
      if (entries.length > 1) retriedRequests++;
      for (const entry of entries.slice(0, -1))
        expect(entry).toMatch(/^bedrock us-east-1 429 ThrottlingException/);
      expect(entries.at(-1)).toMatch(/^bedrock us-east-1 200 \d+ms$/);
    }
    const seen = upstream();
    expect(seen.every((r) => r.stream)).toBe(true);
    expect(seen.filter((r) => r.status === 200)).toHaveLength(N);
    const throttled = seen.filter((r) => r.errorName === "ThrottlingException");
    expect(throttled.length).toBe(seen.length - N);
    expect(throttled.length).toBeGreaterThan(N / 4);
    expect(retriedRequests).toBeGreaterThan(N / 4);
    figures.i = { streams: N, upstreamAttempts: seen.length, throttledBeforeFirstEvent: throttled.length };
  });

  it("a stream throttled after its first events is never retried: the caller gets an error event", async () => {
    const request = params({ messages: [{ role: "user", content: "Stream me [[tokens=30]]" }] });
    const attempts: AttemptRecord[] = [];
    const c = client({
      targets: [bedrock("us-east-1"), bedrock("us-west-2")],
      resilience: { retry: { baseMs: 2 } },
      attempts,
    });
    const full = textOf(await c.messages.create(request));
    emulator.current.resetJournal();
    attempts.length = 0;
    emulator.current.setFaults({
      seed: 3,
      rules: [{ error: "ThrottlingException", rate: 0.5, afterEvents: 3 }],
    });
    const N = 20;
    let broken = 0;
    for (let i = 0; i < N; i++) {
      const stream = await c.messages.create({ ...request, stream: true });
      const events: RawMessageStreamEvent[] = [];
      try {
        for await (const event of stream) events.push(event);
        expect(deltaText(events)).toBe(full);
      } catch (error) {
        broken++;
        expect(error).toBeInstanceOf(APIError);
        expect(events.map((e) => e.type)).toEqual([
          "message_start",
          "content_block_start",
          "content_block_delta",
        ]);
        expect(full.startsWith(deltaText(events))).toBe(true);
      }
    }
    expect(broken).toBeGreaterThan(0);
    expect(broken).toBeLessThan(N);
    await delay(50);
    // One attempt per stream, broken or not.
    expect(upstream()).toHaveLength(N);
    expect(upstream().filter((r) => r.errorName === "ThrottlingException")).toHaveLength(broken);
    expect(attempts).toHaveLength(N);
  });
});

describe("failover and breakers", () => {
  it("primary answering 503 to everything: every request succeeds on the second region; then only probes", async () => {
    emulator.current.setFaults({
      rules: [{ error: "ServiceUnavailableException", rate: 1, region: "us-east-1" }],
    });
    const OPEN_MS = 100;
    const CONSECUTIVE = 5;
    const attempts: AttemptRecord[] = [];
    const c = client({
      targets: [bedrock("us-east-1"), bedrock("us-west-2")],
      resilience: {
        retry: { baseMs: 2 },
        breaker: { consecutiveFailures: CONSECUTIVE, openMs: OPEN_MS, maxOpenMs: OPEN_MS },
      },
      attempts,
    });
    const started = Date.now();
    let requests = 0;
    while (Date.now() - started < 1_500) {
      const { data, response } = await c.messages.create(params({ max_tokens: 16 })).withResponse();
      requests++;
      expect(data.model).toBe(MODEL);
      expect(response.headers.get("x-bedrock-claude-target")).toBe(SECONDARY);
      // Once the breaker is open, the primary gets at most one attempt (a probe) per request.
      if (requests > 3) {
        const onPrimary = headerEntries(response).filter((e) => /^bedrock us-east-1 \d/.test(e));
        expect(onPrimary.length).toBeLessThanOrEqual(1);
      }
    }
    const ended = Date.now();
    const primary = upstream().filter((r) => r.region === "us-east-1");
    const secondary = upstream().filter((r) => r.region === "us-west-2");
    expect(secondary.filter((r) => r.status === 200)).toHaveLength(requests);
    expect(primary.every((r) => r.errorName === "ServiceUnavailableException")).toBe(true);
    // The breaker opened at the 5th failure: it was skipped from then on.
    const firstSkip = attempts.findIndex((a) => a.target === PRIMARY && a.verdict === "skipped");
    expect(firstSkip).toBeGreaterThan(0);
    expect(attempts.slice(0, firstSkip).filter((a) => a.target === PRIMARY)).toHaveLength(CONSECUTIVE);
    const probes = primary.slice(CONSECUTIVE);
    const openedAt = startOf(primary[CONSECUTIVE - 1]!);
    const openWindow = ended - openedAt;
    // Probes arrive about once per openMs: never closer together, and not much rarer.
    for (let i = 1; i < probes.length; i++) {
      expect(startOf(probes[i]!) - startOf(probes[i - 1]!)).toBeGreaterThanOrEqual(OPEN_MS - 2);
    }
    if (probes.length > 0) expect(startOf(probes[0]!) - openedAt).toBeGreaterThanOrEqual(OPEN_MS - 2);
    expect(probes.length).toBeLessThanOrEqual(Math.ceil(openWindow / OPEN_MS) + 1);
    expect(probes.length).toBeGreaterThanOrEqual(Math.floor(openWindow / OPEN_MS / 2));
    expect(requests).toBeGreaterThan(probes.length * 3);
    figures.b = {
      requests,
      succeeded: requests,
      primaryAttempts: primary.length,
      primaryProbesAfterOpen: probes.length,
      breakerOpenMs: OPEN_MS,
      openWindowMs: openWindow,
    };
  });

  it("both regions down: requests fail fast with a clear error, and upstream load drops to probes", async () => {
    emulator.current.setFaults({ rules: [{ error: "ServiceUnavailableException", rate: 1 }] });
    const OPEN_MS = 100;
    const DEADLINE_MS = 10_000;
    const c = client({
      targets: [bedrock("us-east-1"), bedrock("us-west-2")],
      resilience: {
        retry: { baseMs: 5, deadlineMs: DEADLINE_MS },
        breaker: { openMs: OPEN_MS, maxOpenMs: OPEN_MS },
      },
    });
    const durations: number[] = [];
    const messages: string[] = [];
    const started = Date.now();
    let bothOpenAt: number | undefined;
    while (Date.now() - started < 1_000) {
      const t0 = Date.now();
      const error = await rejection(c.messages.create(params({ max_tokens: 16 })));
      durations.push(Date.now() - t0);
      expect(error).toBeInstanceOf(OverloadedError);
      const message = (error as APIError).message;
      messages.push(message);
      if (bothOpenAt === undefined && message.includes("circuit open")) bothOpenAt = Date.now();
      await delay(5);
    }
    const ended = Date.now();
    const seen = upstream();
    const requests = durations.length;
    expect(bothOpenAt).toBeDefined();
    // Clear: either Bedrock's own words with the exception name, or which breakers are open.
    for (const message of messages) {
      expect(message).toMatch(
        /ServiceUnavailableException|No target could take the request: circuit open for bedrock us-east-1, bedrock us-west-2/,
      );
    }
    // Fast: no request came near the retry deadline; once the breakers are open, at once.
    expect(Math.max(...durations)).toBeLessThan(DEADLINE_MS / 10);
    const afterOpen = durations.slice(5).sort((a, b) => a - b);
    expect(afterOpen[Math.floor(afterOpen.length / 2)]!).toBeLessThan(20);
    expect(afterOpen.at(-1)!).toBeLessThan(200);
    // Bounded: far fewer upstream attempts than requests, and after the breakers opened only probes.
    expect(seen.length).toBeLessThanOrEqual(requests);
    const before = seen.filter((r) => startOf(r) <= bothOpenAt!).length;
    expect(before).toBeLessThanOrEqual(12);
    const window = ended - bothOpenAt!;
    for (const region of ["us-east-1", "us-west-2"]) {
      const probes = seen.filter((r) => r.region === region && startOf(r) > bothOpenAt!);
      expect(probes.length, region).toBeLessThanOrEqual(Math.ceil(window / OPEN_MS) + 1);
    }
    figures.c = {
      requests,
      succeeded: 0,
      upstreamAttempts: seen.length,
      attemptsBeforeBothOpen: before,
      probesAfterOpen: seen.length - before,
      medianMsAfterOpen: afterOpen[Math.floor(afterOpen.length / 2)],
      maxMs: Math.max(...durations),
    };
  });

  it("access denied in one region moves on to the next target at once, without a retry", async () => {
    const attempts: AttemptRecord[] = [];
    const denied: TargetOptions = {
      ...bedrock("us-east-1"),
      credentials: { accessKeyId: NO_ACCESS.accessKeyId, secretAccessKey: NO_ACCESS.secretAccessKey },
    };
    const c = client({
      targets: [denied, bedrock("us-west-2")],
      resilience: { retry: { baseMs: 2 } },
      attempts,
    });
    const { response } = await c.messages.create(params()).withResponse();
    expect(response.headers.get("x-bedrock-claude-target")).toBe(SECONDARY);
    expect(attempts.map((a) => [a.target, a.errorName, a.verdict])).toEqual([
      [PRIMARY, "AccessDeniedException", "failover"],
      [SECONDARY, null, "success"],
    ]);
    expect(upstream().map((r) => [r.region, r.status])).toEqual([
      ["us-east-1", 403],
      ["us-west-2", 200],
    ]);
  });

  it("an aborted half-open probe does not leave the breaker stuck: the recovered primary is used again", async () => {
    emulator.current.setFaults({
      rules: [{ error: "ServiceUnavailableException", rate: 1, region: "us-east-1", latencyMs: 300 }],
    });
    const OPEN_MS = 100;
    const attempts: AttemptRecord[] = [];
    const c = client({
      targets: [bedrock("us-east-1"), bedrock("us-west-2")],
      resilience: {
        retry: { baseMs: 2 },
        breaker: { consecutiveFailures: 1, openMs: OPEN_MS, maxOpenMs: OPEN_MS },
      },
      attempts,
    });
    // The primary fails once: the breaker opens.
    const first = await c.messages.create(params()).withResponse();
    expect(first.response.headers.get("x-bedrock-claude-target")).toBe(SECONDARY);
    await delay(OPEN_MS + 20);
    // Half-open: this request's probe is in flight (300 ms) when its caller gives up.
    const controller = new AbortController();
    const probe = c.messages.create(params(), { signal: controller.signal });
    await delay(100);
    controller.abort();
    expect(await rejection(probe)).toBeInstanceOf(APIUserAbortError);
    await eventually(
      () => upstream().filter((r) => r.region === "us-east-1").length,
      (n) => n >= 2,
    );
    expect(upstream().filter((r) => r.region === "us-east-1")).toHaveLength(2);
    // The primary recovers. Within a few open periods a probe must reach it and close the breaker.
    emulator.current.clearFaults();
    let target: string | null = null;
    const until = Date.now() + 10 * OPEN_MS;
    while (Date.now() < until && target !== PRIMARY) {
      const { response } = await c.messages.create(params()).withResponse();
      target = response.headers.get("x-bedrock-claude-target");
      await delay(10);
    }
    expect(target).toBe(PRIMARY);
  });

  it("fails over from Bedrock to the anthropic provider on the emulator's Anthropic endpoint", async () => {
    emulator.current.setFaults({
      rules: [{ error: "ServiceUnavailableException", rate: 1, region: "us-east-1" }],
    });
    const attempts: AttemptRecord[] = [];
    const c = client({
      targets: [
        bedrock("us-east-1"),
        {
          provider: "anthropic",
          endpoint: emulator.current.url,
          apiKey: emulator.current.credentials.anthropicApiKey,
        },
      ],
      resilience: { retry: { baseMs: 2 } },
      attempts,
    });
    const { data, response } = await c.messages.create(params()).withResponse();
    expect(data.model).toBe(MODEL);
    expect(data.id).toMatch(/^msg_01/);
    expect(textOf(data)).toContain("emulator");
    expect(response.headers.get("x-bedrock-claude-target")).toBe("anthropic");
    // The model was resolved again for each target: a US profile on Bedrock, the plain name on the API.
    const seen = upstream();
    expect(seen.map((r) => [r.api, r.model, r.status])).toEqual([
      ["bedrock-runtime", BEDROCK_MODEL, 503],
      ["bedrock-runtime", BEDROCK_MODEL, 503],
      ["anthropic", MODEL, 200],
    ]);
    expect(attempts.map((a) => [a.target, a.provider, a.verdict])).toEqual([
      [PRIMARY, "bedrock", "retry"],
      [PRIMARY, "bedrock", "retry"],
      ["anthropic", "anthropic", "success"],
    ]);
    // Streams fail over too.
    const streamed = await c.messages.stream(params()).finalMessage();
    expect(textOf(streamed)).toBe(textOf(data));
    expect(upstream().at(-1)).toMatchObject({ api: "anthropic", stream: true, status: 200 });
  });

  it("attempts are visible: the response header, onAttempt and the diagnostics channel agree", async () => {
    emulator.current.setFaults({
      rules: [{ error: "ServiceUnavailableException", rate: 1, region: "us-east-1" }],
    });
    const fromCallback: AttemptRecord[] = [];
    const fromChannel: AttemptRecord[] = [];
    const listener = (message: unknown) => fromChannel.push(message as AttemptRecord);
    subscribe("bedrock-claude:attempt", listener);
    try {
      const c = client({
        targets: [bedrock("us-east-1"), bedrock("us-west-2")],
        resilience: { retry: { baseMs: 2 } },
        attempts: fromCallback,
      });
      const { response } = await c.messages.create(params()).withResponse();
      expect(fromCallback).toHaveLength(3);
      expect(fromChannel).toEqual(fromCallback);
      expect(fromCallback.map((a) => [a.target, a.provider, a.region, a.attempt, a.errorName])).toEqual([
        [PRIMARY, "bedrock", "us-east-1", 1, "ServiceUnavailableException"],
        [PRIMARY, "bedrock", "us-east-1", 2, "ServiceUnavailableException"],
        [SECONDARY, "bedrock", "us-west-2", 3, null],
      ]);
      expect(fromCallback.map((a) => a.verdict)).toEqual(["retry", "retry", "success"]);
      expect(fromCallback[2]!.status).toBe(200);
      for (const a of fromCallback.slice(0, 2)) expect(a.status).toBeGreaterThanOrEqual(500);
      for (const a of fromCallback) {
        expect(a.latencyMs).toBeGreaterThanOrEqual(0);
        expect(a.latencyMs).toBeLessThan(5_000);
      }
      const entries = headerEntries(response);
      expect(entries).toEqual(
        fromCallback.map(
          (a) => `${a.target} ${a.status}${a.errorName ? ` ${a.errorName}` : ""} ${a.latencyMs}ms`,
        ),
      );
    } finally {
      unsubscribe("bedrock-claude:attempt", listener);
    }
  });
});

describe("client-side limits", () => {
  it("rpm 5 with 10 concurrent requests: 5 reach the emulator, 5 wait in the queue (and abort cleanly)", async () => {
    const c = client({
      targets: [bedrock("us-east-1")],
      resilience: { limits: { "*": { rpm: 5, maxWaitMs: 120_000 } } },
    });
    const controllers = Array.from({ length: 10 }, () => new AbortController());
    const states = controllers.map(() => ({
      state: "pending" as "pending" | "ok" | "failed",
      error: undefined as unknown,
    }));
    const calls = controllers.map((controller, i) =>
      c.messages.create(params({ max_tokens: 16 }), { signal: controller.signal }).then(
        () => {
          states[i]!.state = "ok";
        },
        (error: unknown) => {
          states[i]!.state = "failed";
          states[i]!.error = error;
        },
      ),
    );
    await eventually(
      () => states.filter((s) => s.state === "ok").length,
      (n) => n >= 5,
    );
    await delay(300);
    expect(states.filter((s) => s.state === "ok")).toHaveLength(5);
    expect(states.filter((s) => s.state === "pending")).toHaveLength(5);
    expect(upstream()).toHaveLength(5);
    for (const [i, s] of states.entries()) if (s.state === "pending") controllers[i]!.abort();
    await Promise.all(calls);
    const aborted = states.filter((s) => s.state === "failed");
    expect(aborted).toHaveLength(5);
    for (const s of aborted) expect(s.error).toBeInstanceOf(APIUserAbortError);
    await delay(50);
    expect(upstream()).toHaveLength(5);
  });

  it("rpm 5 with maxQueue 0: the overflow is refused with RateLimitError and never reaches upstream", async () => {
    const attempts: AttemptRecord[] = [];
    const c = client({
      targets: [bedrock("us-east-1")],
      resilience: { limits: { "*": { rpm: 5, maxQueue: 0 } } },
      attempts,
    });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => c.messages.create(params({ max_tokens: 16 }))),
    );
    const refused = results.filter((r) => r.status === "rejected");
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(5);
    expect(refused).toHaveLength(5);
    for (const r of refused) {
      const error = (r as PromiseRejectedResult).reason;
      expect(error).toBeInstanceOf(RateLimitError);
      expect((error as APIError).message).toMatch(/Client-side limit for bedrock us-east-1/);
    }
    expect(upstream()).toHaveLength(5);
    expect(attempts.filter((a) => a.note?.startsWith("client limit"))).toHaveLength(5);
  });

  it("queued requests wait for the bucket to refill, then go", async () => {
    // 120 per minute: a burst of 120, then one every 500 ms.
    const c = client({ targets: [bedrock("us-east-1")], resilience: { limits: { "*": { rpm: 120 } } } });
    const started = Date.now();
    const finished: number[] = [];
    await Promise.all(
      Array.from({ length: 121 }, () =>
        c.messages.create(params({ max_tokens: 16 })).then(() => finished.push(Date.now() - started)),
      ),
    );
    const seen = upstream()
      .map(startOf)
      .sort((a, b) => a - b);
    expect(seen).toHaveLength(121);
    expect(seen[119]! - started).toBeLessThan(450);
    expect(seen[120]! - started).toBeGreaterThanOrEqual(480);
    expect(Math.max(...finished)).toBeLessThan(2_000);
  });

  it("a per-target limit sends the overflow to the next target", async () => {
    const attempts: AttemptRecord[] = [];
    const c = client({
      targets: [bedrock("us-east-1"), bedrock("us-west-2")],
      resilience: { limits: { [PRIMARY]: { rpm: 2, maxQueue: 0 } } },
      attempts,
    });
    const results = await Promise.all(
      Array.from({ length: 5 }, () => c.messages.create(params({ max_tokens: 16 })).withResponse()),
    );
    const targets = results.map((r) => r.response.headers.get("x-bedrock-claude-target")).sort();
    expect(targets).toEqual([PRIMARY, PRIMARY, SECONDARY, SECONDARY, SECONDARY]);
    expect(upstream().filter((r) => r.region === "us-east-1")).toHaveLength(2);
    expect(upstream().filter((r) => r.region === "us-west-2")).toHaveLength(3);
    expect(attempts.filter((a) => a.note === "client limit: queue_full")).toHaveLength(3);
  });

  it("tokens per minute: a reservation of input + max_tokens is settled with the real usage", async () => {
    // Each call reserves about 1,020 tokens (max_tokens 1,000) but uses about 30.
    const c = client({
      targets: [bedrock("us-east-1")],
      resilience: { limits: { "*": { tpm: 3_000, maxQueue: 0 } } },
    });
    const admitted: boolean[] = [];
    for (let i = 0; i < 6; i++) {
      admitted.push(
        await c.messages.create(params({ max_tokens: 1_000 })).then(
          () => true,
          () => false,
        ),
      );
    }
    const used = upstream().reduce((n, r) => n + r.inputTokens + r.outputTokens, 0);
    expect(used).toBeLessThan(500);
    // Settled with what was used, 6 calls fit easily in 3,000 tokens; settled with the reservation, 2 do.
    expect(admitted).toEqual([true, true, true, true, true, true]);
  });

  it("AIMD: after a throttle the limiter admits fewer requests", async () => {
    const limits = { "*": { rpm: 10, maxQueue: 0 } };
    const burst = async (c: ReturnType<typeof client>) => {
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, () => c.messages.create(params({ max_tokens: 16 }))),
      );
      return results.filter((r) => r.status === "fulfilled").length;
    };

    // Control: one success, then a burst: 9 of the 10 per minute are left.
    const calm = client({ targets: [bedrock("us-east-1")], resilience: { limits } });
    await calm.messages.create(params({ max_tokens: 16 }));
    const calmAdmitted = await burst(calm);

    // One throttled request (a single attempt), then the same burst.
    const throttled = client({
      targets: [bedrock("us-east-1")],
      resilience: { limits, retry: { maxAttempts: 1 } },
    });
    emulator.current.setFaults({ rules: [{ error: "ThrottlingException", rate: 1 }] });
    expect(await rejection(throttled.messages.create(params({ max_tokens: 16 })))).toBeInstanceOf(
      RateLimitError,
    );
    emulator.current.clearFaults();
    const throttledAdmitted = await burst(throttled);

    expect(calmAdmitted).toBe(9);
    // x0.7: a rate of 7 per minute, so 7 fit.
    expect(throttledAdmitted).toBe(7);
    figures.j = { admittedAfterSuccess: calmAdmitted, admittedAfterThrottle: throttledAdmitted };
  });
});

describe("Retry-After", () => {
  /** A stand-in upstream on 127.0.0.1: the first call is throttled with `retry-after: 1`, then it answers. */
  async function throttlingUpstream(provider: "anthropic" | "bedrock") {
    const arrivals: number[] = [];
    const server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        arrivals.push(Date.now());
        if (arrivals.length === 1) {
          const headers: Record<string, string> = { "content-type": "application/json", "retry-after": "1" };
          if (provider === "bedrock")
            headers["x-amzn-errortype"] =
              "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/";
          res.writeHead(429, headers);
          res.end(
            provider === "bedrock"
              ? JSON.stringify({ message: "Too many requests, please wait before trying again." })
              : JSON.stringify({ type: "error", error: { type: "rate_limit_error", message: "Slow down." } }),
          );
          return;
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            id: "msg_01stub",
            type: "message",
            role: "assistant",
            model: MODEL,
            content: [{ type: "text", text: "Hello after waiting." }],
            stop_reason: "end_turn",
            stop_sequence: null,
            usage: { input_tokens: 3, output_tokens: 4 },
          }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { url, arrivals, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  for (const provider of ["anthropic", "bedrock"] as const) {
    it(`a 429 with retry-after: 1 from the ${provider} provider is retried after about a second`, async () => {
      const stub = await throttlingUpstream(provider);
      try {
        const target: TargetOptions =
          provider === "anthropic"
            ? { provider: "anthropic", endpoint: stub.url, apiKey: "sk-ant-stub" }
            : bedrock("us-east-1", () => stub.url);
        const c = client({ targets: [target], resilience: { retry: { baseMs: 2, capMs: 5 } } });
        const message = await c.messages.create(params());
        expect(textOf(message)).toBe("Hello after waiting.");
        expect(stub.arrivals).toHaveLength(2);
        // Full jitter alone would wait under 5 ms here; the server asked for one second.
        expect(stub.arrivals[1]! - stub.arrivals[0]!).toBeGreaterThanOrEqual(950);
      } finally {
        await stub.close();
      }
    });
  }
});

describe("connection failures", () => {
  it("a connection reset is retried, then fails over", async () => {
    emulator.current.setFaults({ rules: [{ error: "ConnectionReset", rate: 1, region: "us-east-1" }] });
    const attempts: AttemptRecord[] = [];
    const c = client({
      targets: [bedrock("us-east-1"), bedrock("us-west-2")],
      resilience: { retry: { baseMs: 2 } },
      attempts,
    });
    const { data, response } = await c.messages.create(params()).withResponse();
    expect(data.model).toBe(MODEL);
    expect(response.headers.get("x-bedrock-claude-target")).toBe(SECONDARY);
    expect(attempts.map((a) => [a.target, a.verdict, a.status])).toEqual([
      [PRIMARY, "retry", null],
      [PRIMARY, "retry", null],
      [SECONDARY, "success", 200],
    ]);
    for (const a of attempts.slice(0, 2)) expect(a.note).toMatch(/^(ECONNRESET|UND_ERR_SOCKET|EPIPE)$/);
    expect(upstream().map((r) => [r.region, r.outcome])).toEqual([
      ["us-east-1", "connection_reset"],
      ["us-east-1", "connection_reset"],
      ["us-west-2", "completed"],
    ]);
  });

  it("a refused connection (nothing listening) is retried, then fails over", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const attempts: AttemptRecord[] = [];
    const c = client({
      targets: [bedrock("us-east-1", () => `http://127.0.0.1:${port}`), bedrock("us-west-2")],
      resilience: { retry: { baseMs: 2 } },
      attempts,
    });
    const { data, response } = await c.messages.create(params()).withResponse();
    expect(data.model).toBe(MODEL);
    expect(response.headers.get("x-bedrock-claude-target")).toBe(SECONDARY);
    expect(attempts.map((a) => [a.target, a.verdict, a.note ?? null])).toEqual([
      [PRIMARY, "retry", "ECONNREFUSED"],
      [PRIMARY, "retry", "ECONNREFUSED"],
      [SECONDARY, "success", null],
    ]);
    expect(upstream().map((r) => r.region)).toEqual(["us-west-2"]);
  });
});

/**
 * Timeouts go through undici's headersTimeout and bodyTimeout, which run on undici's "fast
 * timers" (a 499 ms tick): they fire between the configured time and about one second after it.
 * The emulator's delays below are long enough that only a working timeout can explain the results.
 */
describe("timeouts and cancellation (paced emulator: 50 ms between stream events)", () => {
  const paced = useEmulator({ config: { pace: { firstByteMs: 0, eventMs: 50 } } });
  const pacedBedrock = (region: string) => bedrock(region, () => paced.current.url);
  const slow = params({
    messages: [{ role: "user", content: "Take your time [[tokens=200]]" }],
    max_tokens: 400,
  });
  /** Records of requests that started in this test (slow attempts of earlier tests are logged late). */
  let testStart = 0;
  const log = () => upstream(paced.current).filter((r) => startOf(r) >= testStart);

  beforeEach(() => {
    paced.current.clearFaults();
    paced.current.resetJournal();
    testStart = Date.now();
  });

  it("an AbortSignal stops the upstream stream: the emulator logs client_closed", async () => {
    const c = client({ targets: [pacedBedrock("us-east-1")] });
    const controller = new AbortController();
    const stream = await c.messages.create({ ...slow, stream: true }, { signal: controller.signal });
    const events: RawMessageStreamEvent[] = [];
    // The SDK ends the iteration quietly when the caller aborts.
    for await (const event of stream) {
      events.push(event);
      if (events.length === 4) controller.abort();
    }
    const abortedAt = Date.now();
    expect(controller.signal.aborted).toBe(true);
    expect(events.length).toBeGreaterThanOrEqual(4);
    expect(events.length).toBeLessThan(10);
    expect(events.at(-1)!.type).not.toBe("message_stop");
    const records = await eventually(log, (r) => r.length > 0);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ outcome: "client_closed", stream: true });
    // The upstream stopped producing: a fraction of the 200 tokens was delivered, and soon.
    expect(records[0]!.outputTokens).toBeLessThan(50);
    expect(startOf(records[0]!) + records[0]!.latencyMs).toBeLessThan(abortedAt + 500);
    // Not retried.
    await delay(100);
    expect(log()).toHaveLength(1);
  });

  it("the total timeout ends a long stream, and the upstream work with it", async () => {
    const c = client({ targets: [pacedBedrock("us-east-1")], resilience: { timeouts: { totalMs: 400 } } });
    const t0 = Date.now();
    const stream = await c.messages.create({ ...slow, stream: true });
    const events: RawMessageStreamEvent[] = [];
    const error = await rejection(
      (async () => {
        for await (const event of stream) events.push(event);
      })(),
    );
    const elapsed = Date.now() - t0;
    expect(error).toBeInstanceOf(Error);
    expect(events.length).toBeGreaterThan(0);
    expect(events.at(-1)!.type).not.toBe("message_stop");
    expect(elapsed).toBeGreaterThanOrEqual(380);
    expect(elapsed).toBeLessThan(1_500);
    const records = await eventually(log, (r) => r.length > 0);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ outcome: "client_closed", stream: true });
    expect(records[0]!.outputTokens).toBeLessThan(200);
  });

  it("the total timeout ends a request waiting for a slow first byte, without another attempt", async () => {
    paced.current.setFaults({ rules: [{ error: "none", rate: 1, latencyMs: 1_500 }] });
    const c = client({ targets: [pacedBedrock("us-east-1")], resilience: { timeouts: { totalMs: 300 } } });
    const t0 = Date.now();
    const error = await rejection(c.messages.create(params()));
    const elapsed = Date.now() - t0;
    expect(error).toBeInstanceOf(APIConnectionTimeoutError);
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(1_000);
    // The emulator logs a non-streaming call when it answers (as Bedrock bills it): one attempt.
    const records = await eventually(log, (r) => r.length > 0, 2_500);
    expect(records).toHaveLength(1);
  });

  it("a first-byte timeout is retried and fails over; the slow attempts are cut off", async () => {
    paced.current.setFaults({ rules: [{ error: "none", rate: 1, latencyMs: 3_000, region: "us-east-1" }] });
    const attempts: AttemptRecord[] = [];
    const c = client({
      targets: [pacedBedrock("us-east-1"), pacedBedrock("us-west-2")],
      resilience: { retry: { baseMs: 2 }, timeouts: { firstByteMs: 300 } },
      attempts,
    });
    const t0 = Date.now();
    const { data, response } = await c.messages.create(params()).withResponse();
    const elapsed = Date.now() - t0;
    expect(data.model).toBe(MODEL);
    expect(response.headers.get("x-bedrock-claude-target")).toBe(SECONDARY);
    expect(attempts.map((a) => [a.target, a.verdict, a.note ?? null])).toEqual([
      [PRIMARY, "retry", "UND_ERR_HEADERS_TIMEOUT"],
      [PRIMARY, "retry", "UND_ERR_HEADERS_TIMEOUT"],
      [SECONDARY, "success", null],
    ]);
    for (const a of attempts.slice(0, 2)) {
      expect(a.latencyMs).toBeGreaterThanOrEqual(290);
      expect(a.latencyMs).toBeLessThan(1_500);
    }
    // Two cut-off attempts and a fast success, less than one full 3 s wait.
    expect(elapsed).toBeLessThan(3_000);
    expect(log().filter((r) => r.region === "us-west-2" && r.status === 200)).toHaveLength(1);
  });

  it("a first-byte timeout on a stream: the emulator logs the slow attempts as closed by the client", async () => {
    paced.current.setFaults({ rules: [{ error: "none", rate: 1, latencyMs: 1_500, region: "us-east-1" }] });
    const c = client({
      targets: [pacedBedrock("us-east-1"), pacedBedrock("us-west-2")],
      resilience: { retry: { baseMs: 2 }, timeouts: { firstByteMs: 300 } },
    });
    const request = params({ messages: [{ role: "user", content: "Stream [[tokens=12]]" }] });
    const { data: stream, response } = await c.messages.create({ ...request, stream: true }).withResponse();
    expect(response.headers.get("x-bedrock-claude-target")).toBe(SECONDARY);
    const events: RawMessageStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(events.at(-1)!.type).toBe("message_stop");
    const records = await eventually(
      () => log().filter((r) => r.region === "us-east-1"),
      (r) => r.length >= 2,
      2_500,
    );
    expect(records).toHaveLength(2);
    for (const r of records) expect(r).toMatchObject({ outcome: "client_closed", outputTokens: 0 });
  });
});

describe("idle timeout (emulator pausing 1.5 s between stream events)", () => {
  const stalling = useEmulator({ config: { pace: { firstByteMs: 0, eventMs: 1_500 } } });

  it("a stream silent for longer than idleMs fails with an error, and the emulator logs client_closed", async () => {
    const c = client({
      targets: [bedrock("us-east-1", () => stalling.current.url)],
      resilience: { timeouts: { idleMs: 300 } },
    });
    const t0 = Date.now();
    const stream = await c.messages.create({ ...params(), stream: true });
    const events: RawMessageStreamEvent[] = [];
    const error = await rejection(
      (async () => {
        for await (const event of stream) events.push(event);
      })(),
    );
    expect(error).toBeInstanceOf(Error);
    // The first event came at once; the stream died in the first 1.5 s pause.
    expect(events.map((e) => e.type)).toEqual(["message_start"]);
    expect(Date.now() - t0).toBeLessThan(1_500);
    const records = await eventually(
      () => upstream(stalling.current),
      (r) => r.length > 0,
      2_500,
    );
    expect(records).toHaveLength(1);
    expect(records[0]!.outcome).toBe("client_closed");
  });
});
