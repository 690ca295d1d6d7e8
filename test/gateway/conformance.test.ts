/**
 * Issue #7, "Done when": the unmodified official `@anthropic-ai/sdk`, configured only with
 * `baseURL` and a virtual key, passes the client conformance suite through the gateway (create,
 * stream, finalMessage, tool use, count_tokens, models, every error class), and so does raw HTTP
 * (SSE framing checked byte by byte against the emulator's own Anthropic API endpoint).
 *
 * The gateway runs with keys (not open), in front of the local Bedrock emulator (InvokeModel,
 * us-west-2); everything goes over real HTTP on 127.0.0.1. The same user code runs through the
 * gateway and through `createClient()` directly, and must give the same results.
 */
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Anthropic, {
  APIError,
  AuthenticationError,
  BadRequestError,
  InternalServerError,
  NotFoundError,
  OverloadedError,
  PermissionDeniedError,
  RateLimitError,
} from "@anthropic-ai/sdk";
import type { Message, MessageCreateParamsNonStreaming } from "@anthropic-ai/sdk/resources/messages";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createClient } from "../../src/client.js";
import type { CreatedKey, RunningGateway } from "../../src/gateway/index.js";
import { startGateway } from "../../src/gateway/index.js";
import type { LedgerRequest } from "../../src/usage/ledger.js";
import {
  maxTokensTruncates,
  systemPrompt,
  textOf,
  toolRoundTrip,
  toolWhileStreaming,
  userCode,
  WEATHER_TOOL,
} from "../conformance/user-code.js";
import { NO_ACCESS, rejection } from "../helpers.js";
import { emulatorTarget, useGateway } from "./gateway-helpers.js";

const MODEL = "claude-sonnet-4-6";
const HAIKU = "claude-haiku-4-5";
/** Sonnet 4.6's output limit is 64000 tokens (data/models.json). */
const ABOVE_MAX_TOKENS = 100_000;
/** A flag of data/bedrock-betas.json's `denied` list: Bedrock answers `invalid beta flag`. */
const DENIED_BETA = "advanced-tool-use-2025-11-20";
/** The gateway's body limit for this suite: small, so that a 413 is cheap to provoke. */
const MAX_BODY_BYTES = 32 * 1024;

const harness = useGateway(() => ({ limits: { maxBodyBytes: MAX_BODY_BYTES } }), {
  config: { identities: [{ ...NO_ACCESS, modelAccess: [] }] },
});

let key: CreatedKey;
let haikuOnly: CreatedKey;
let rpmLimited: CreatedKey;

beforeAll(async () => {
  key = harness.gateway.keys.create({ name: "conformance" });
  haikuOnly = harness.gateway.keys.create({ name: "haiku-only", models: ["claude-haiku-4-5*"] });
  rpmLimited = harness.gateway.keys.create({ name: "two-a-minute", rpm: 2 });
  // The gateway reads whether keys exist at most once a second: wait until it requires one.
  await vi.waitFor(() => expect(harness.gateway.open()).toBe(false), { timeout: 3000, interval: 50 });
});

afterEach(() => {
  harness.emulator.clearFaults();
});

/** The official client, configured only with the gateway's URL and a virtual key. */
const gatewayClient = (token = key.token) =>
  new Anthropic({ baseURL: harness.gateway.url, apiKey: token, maxRetries: 0 });
/** The library directly, pointed at the same emulator as the gateway (the reference). */
const directClient = () =>
  createClient({ ...emulatorTarget(harness.emulator), anthropic: { maxRetries: 0 }, ledger: false });

const requests = () => harness.emulator.requests();
const lastRequest = () => requests().at(-1)!;

function ledgerRecord(requestId: string | null | undefined): LedgerRequest {
  expect(requestId).toMatch(/^req_/);
  const found = harness
    .ledger()
    .requests({ since: 0 })
    .find((r) => r.id === requestId);
  if (!found) throw new Error(`no ledger record for ${requestId}`);
  return found;
}

/** The ledger has the call under the gateway's request id, with the key's name, and the emulator saw it. */
function expectLedgered(requestId: string | null | undefined, expected: Partial<LedgerRequest> = {}) {
  const record = ledgerRecord(requestId);
  expect(record.key).toBe("conformance");
  expect(record).toMatchObject(expected);
  expect(record.upstreamRequestId).toBeTruthy();
  expect(requests().some((r) => r.requestId === record.upstreamRequestId)).toBe(true);
  return record;
}

/** The message in the error body (the SDK's `message` is the status and the whole body). */
function messageOf(error: APIError): string {
  const body = error.error as { error?: { message?: unknown } } | undefined;
  expect(typeof body?.error?.message).toBe("string");
  return body!.error!.message as string;
}

const params = (
  overrides: Partial<MessageCreateParamsNonStreaming> = {},
): MessageCreateParamsNonStreaming => ({
  model: MODEL,
  max_tokens: 256,
  messages: [{ role: "user", content: "Hello from the gateway conformance suite" }],
  ...overrides,
});

describe("the official Anthropic SDK through the gateway (baseURL and a virtual key only)", () => {
  it("the gateway requires a key: it is not running open", () => {
    expect(harness.gateway.open()).toBe(false);
  });

  it("runs the client conformance suite's user code with the same results as createClient()", async () => {
    const through = await userCode(gatewayClient());
    const direct = await userCode(directClient());
    expect(through.created.model).toBe(MODEL);
    expect(through.created.text).toContain('System prompt: "You answer briefly.".');
    expect(through.created.text).toContain('You said: "Tell me something".');
    expect(through.created.stopReason).toBe("end_turn");
    expect(through.created.outputTokens).toBe(60);
    expect(through.streamed.deltas).toBeGreaterThan(1);
    expect(through.streamed.deltasText).toBe(through.streamed.text);
    expect(through.streamed.outputTokens).toBe(45);
    expect(through.tool).toEqual({
      stopReason: "tool_use",
      name: "get_weather",
      input: { city: "Paris" },
      idShape: true,
      answer: 'Tool get_weather returned: "18 degrees and sunny in Paris".',
      answerStopReason: "end_turn",
    });
    expect(through).toEqual(direct);
  });

  it("messages.create: answered under the Anthropic name; request-id names the ledger record", async () => {
    const before = requests().length;
    const {
      data: message,
      response,
      request_id,
    } = await gatewayClient().messages.create(params()).withResponse();
    expect(message.type).toBe("message");
    expect(message.role).toBe("assistant");
    expect(message.model).toBe(MODEL);
    expect(message.stop_reason).toBe("end_turn");
    expect(textOf(message)).toBe(
      `This is the bedrock-claude emulator answering as ${MODEL}. You said: "Hello from the gateway conformance suite".`,
    );
    expect(requests().length).toBe(before + 1);
    expect(lastRequest().model).toBe("us.anthropic.claude-sonnet-4-6");
    expect(lastRequest().api).toBe("bedrock-runtime");
    expect(response.headers.get("x-bedrock-claude-target")).toBe("bedrock us-west-2");
    expect(request_id).toBe(response.headers.get("request-id"));
    const record = expectLedgered(request_id, {
      status: 200,
      stream: false,
      modelRequested: MODEL,
      modelResolved: "us.anthropic.claude-sonnet-4-6",
      inputTokens: message.usage.input_tokens,
      outputTokens: message.usage.output_tokens,
    });
    expect(record.upstreamRequestId).toBe(lastRequest().requestId);
    expect(response.headers.get("x-bedrock-claude-upstream-request-id")).toBe(lastRequest().requestId);
  });

  it("messages.stream: deltas concatenate to finalMessage(), which matches create(); ledgered as a stream", async () => {
    const request = params({ messages: [{ role: "user", content: "Stream me [[tokens=90]]" }] });
    const created = await gatewayClient().messages.create(request);
    const stream = gatewayClient().messages.stream(request);
    const deltas: string[] = [];
    stream.on("text", (delta) => deltas.push(delta));
    const final = await stream.finalMessage();
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join("")).toBe(textOf(final));
    expect(textOf(final)).toBe(textOf(created));
    expect(final.model).toBe(MODEL);
    expect(final.stop_reason).toBe("end_turn");
    expect(final.usage.output_tokens).toBe(90);
    expect(final.usage.input_tokens).toBe(created.usage.input_tokens);
    expect(lastRequest().stream).toBe(true);
    expect(stream.request_id).toMatch(/^req_/);
    expectLedgered(stream.request_id, { stream: true, status: 200, outputTokens: 90, partial: false });
  });

  it("tool use round trip: tool_use block, tool_result back, final text names the result", () =>
    toolRoundTrip(gatewayClient()));

  it("tool use while streaming: the SDK assembles the tool_use input", () =>
    toolWhileStreaming(gatewayClient()));

  it("system prompt: a string and an array of text blocks", () => systemPrompt(gatewayClient()));

  it("stop sequences cut the answer and are reported, streaming or not", async () => {
    const message = await gatewayClient().messages.create(params({ stop_sequences: ["emulator", "never"] }));
    expect(message.stop_reason).toBe("stop_sequence");
    expect(message.stop_sequence).toBe("emulator");
    expect(textOf(message).trimEnd()).toBe("This is the bedrock-claude");
    const final = await gatewayClient()
      .messages.stream(params({ stop_sequences: ["emulator"] }))
      .finalMessage();
    expect(final.stop_reason).toBe("stop_sequence");
    expect(final.stop_sequence).toBe("emulator");
    expect(textOf(final)).toBe(textOf(message));
  });

  it("max_tokens truncates: stop_reason max_tokens and output_tokens === max_tokens", () =>
    maxTokensTruncates(gatewayClient()));

  it("thinking: a signed thinking block before the text, the same streamed and not", async () => {
    const request = params({ max_tokens: 2048, thinking: { type: "enabled", budget_tokens: 1024 } });
    const created = await gatewayClient().messages.create(request);
    expect(created.content.map((b) => b.type)).toEqual(["thinking", "text"]);
    const block = created.content[0]!;
    expect(block.type === "thinking" && block.thinking.length > 0 && block.signature.length > 0).toBe(true);
    const stream = gatewayClient().messages.stream(request);
    let thinking = "";
    stream.on("thinking", (delta) => {
      thinking += delta;
    });
    const final = await stream.finalMessage();
    expect(final.content).toEqual(created.content);
    expect(thinking).toBe(block.type === "thinking" ? block.thinking : "");
  });

  it("count_tokens equals the input_tokens billed for the same request (and is not ledgered)", async () => {
    const request = params({
      system: "You count carefully.",
      tools: [WEATHER_TOOL],
      messages: [
        { role: "user", content: "How many tokens is this prompt, roughly?" },
        { role: "assistant", content: "Let me think." },
        { role: "user", content: "Please answer." },
      ],
    });
    const { data: counted, request_id: countId } = await gatewayClient()
      .messages.countTokens({
        model: request.model,
        system: request.system,
        tools: request.tools,
        messages: request.messages,
      })
      .withResponse();
    expect(counted.input_tokens).toBeGreaterThan(0);
    expect(countId).toMatch(/^req_/);
    expect(lastRequest().operation).toBe("CountTokens");
    const { data: created, request_id } = await gatewayClient().messages.create(request).withResponse();
    expect(created.usage.input_tokens).toBe(counted.input_tokens);
    expect(lastRequest().inputTokens).toBe(counted.input_tokens);
    expectLedgered(request_id, { inputTokens: counted.input_tokens });
    expect(
      harness
        .ledger()
        .requests({ since: 0 })
        .some((r) => r.id === countId),
    ).toBe(false);
  });

  it("models.list and models.retrieve: what createClient() lists for the same target", async () => {
    const listed: string[] = [];
    for await (const model of gatewayClient().models.list()) listed.push(model.id);
    const direct: string[] = [];
    for await (const model of directClient().models.list()) direct.push(model.id);
    expect(listed).toContain(MODEL);
    expect(listed).toEqual(direct);
    const { data: model, request_id } = await gatewayClient().models.retrieve(MODEL).withResponse();
    expect(model).toMatchObject({ type: "model", id: MODEL });
    expect(model.display_name).toBeTruthy();
    expect(request_id).toMatch(/^req_/);
    const error = await rejection<APIError>(gatewayClient().models.retrieve("claude-imaginary-9"), APIError);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.requestID).toMatch(/^req_/);
  });

  it("a denied beta flag is dropped by the compatibility policy (with a warning) and the call succeeds", async () => {
    const before = requests().length;
    const warnings = () => harness.logs.filter((l) => JSON.stringify(l).includes(DENIED_BETA)).length;
    // The policy warns once per target and model: this suite sends the flag nowhere else.
    expect(warnings()).toBe(0);
    const message = await gatewayClient().beta.messages.create({ ...params(), betas: [DENIED_BETA] });
    expect(message.model).toBe(MODEL);
    expect(message.stop_reason).toBe("end_turn");
    // Dropped before sending: one upstream request, not a refusal and a retry.
    expect(requests().length).toBe(before + 1);
    expect(lastRequest().status).toBe(200);
    expect(warnings()).toBe(1);
  });

  it("an allowed beta flag (anthropic-beta) is passed on and accepted", async () => {
    const message = await gatewayClient().beta.messages.create({
      ...params(),
      betas: ["interleaved-thinking-2025-05-14"],
    });
    expect(message.stop_reason).toBe("end_turn");
    expect(lastRequest().status).toBe(200);
  });

  describe("every error is the official SDK's class, with the gateway's request id", () => {
    it("BadRequestError: max_tokens above the model's limit (ledgered)", async () => {
      const error = await rejection<APIError>(
        gatewayClient().messages.create(params({ max_tokens: ABOVE_MAX_TOKENS }), { timeout: 60_000 }),
        APIError,
      );
      expect(error).toBeInstanceOf(BadRequestError);
      expect(error.status).toBe(400);
      expect(error.type).toBe("invalid_request_error");
      expect(error.message).toContain("max_tokens");
      expectLedgered(error.requestID, { status: 400 });
    });

    it("AuthenticationError: a wrong key, refused by the gateway before anything goes upstream", async () => {
      const before = requests().length;
      const error = await rejection<APIError>(
        gatewayClient(`${key.token.slice(0, -4)}AAAA`).messages.create(params()),
        APIError,
      );
      expect(error).toBeInstanceOf(AuthenticationError);
      expect(error.status).toBe(401);
      expect(error.type).toBe("authentication_error");
      expect(error.requestID).toMatch(/^req_/);
      expect(requests().length).toBe(before);
    });

    it("PermissionDeniedError: the key's model allowlist, naming the key and the model", async () => {
      const before = requests().length;
      const allowed = await gatewayClient(haikuOnly.token).messages.create(params({ model: HAIKU }));
      expect(allowed.model.startsWith(HAIKU)).toBe(true);
      expect(requests().length).toBe(before + 1);
      const error = await rejection<APIError>(
        gatewayClient(haikuOnly.token).messages.create(params()),
        APIError,
      );
      expect(error).toBeInstanceOf(PermissionDeniedError);
      expect(error.status).toBe(403);
      expect(error.type).toBe("permission_error");
      expect(messageOf(error)).toBe(
        `Key "haiku-only" may not use model "${MODEL}"; it may use: claude-haiku-4-5*.`,
      );
      expect(error.requestID).toMatch(/^req_/);
      expect(requests().length).toBe(before + 1);
      // The allowlist covers every route that names a model: count_tokens too.
      const counted = await rejection<APIError>(
        gatewayClient(haikuOnly.token).messages.countTokens({ model: MODEL, messages: params().messages }),
        APIError,
      );
      expect(counted).toBeInstanceOf(PermissionDeniedError);
    });

    it("NotFoundError: a model name nobody serves, listing the choices; nothing goes upstream", async () => {
      const before = requests().length;
      const error = await rejection<APIError>(
        gatewayClient().messages.create(params({ model: "claude-imaginary-9" })),
        APIError,
      );
      expect(error).toBeInstanceOf(NotFoundError);
      expect(error.status).toBe(404);
      expect(error.type).toBe("not_found_error");
      expect(error.message).toContain("claude-imaginary-9");
      expect(error.message).toContain(MODEL);
      expect(requests().length).toBe(before);
      expect(error.requestID).toMatch(/^req_/);
    });

    it("RateLimitError: ThrottlingException upstream (ledgered with its error)", async () => {
      harness.emulator.setFaults({ rules: [{ error: "ThrottlingException", rate: 1 }] });
      const error = await rejection<APIError>(gatewayClient().messages.create(params()), APIError);
      expect(error).toBeInstanceOf(RateLimitError);
      expect(error.status).toBe(429);
      expect(error.type).toBe("rate_limit_error");
      expect(lastRequest().errorName).toBe("ThrottlingException");
      expectLedgered(error.requestID, { status: 429, errorName: "ThrottlingException" });
    });

    it("RateLimitError: the key's requests-per-minute limit, saying which limit and when it resets", async () => {
      const client = gatewayClient(rpmLimited.token);
      await client.messages.create(params());
      await client.messages.create(params());
      const before = requests().length;
      const startedAt = Date.now();
      const error = await rejection<APIError>(client.messages.create(params()), APIError);
      expect(error).toBeInstanceOf(RateLimitError);
      expect(error.status).toBe(429);
      expect(error.type).toBe("rate_limit_error");
      const message = messageOf(error);
      expect(message).toMatch(
        /^Key "two-a-minute" is over its limit of 2 requests per minute; it resets at /,
      );
      const resets = /resets at (\S+?)\.?$/.exec(message)?.[1];
      expect(resets).toBeTruthy();
      const resetsAt = Date.parse(resets!);
      expect(resetsAt).toBeGreaterThan(startedAt - 1000);
      expect(resetsAt).toBeLessThanOrEqual(startedAt + 60_000);
      const retryAfter = Number(error.headers?.get("retry-after"));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(Math.abs(startedAt + retryAfter * 1000 - resetsAt)).toBeLessThanOrEqual(2000);
      expect(error.requestID).toMatch(/^req_/);
      expect(requests().length).toBe(before);
    });

    it("InternalServerError: InternalServerException upstream", async () => {
      harness.emulator.setFaults({ rules: [{ error: "InternalServerException", rate: 1 }] });
      const error = await rejection<APIError>(gatewayClient().messages.create(params()), APIError);
      expect(error).toBeInstanceOf(InternalServerError);
      expect(error.status).toBe(500);
      expect(error.type).toBe("api_error");
      expectLedgered(error.requestID, { status: 500, errorName: "InternalServerException" });
    });

    it("OverloadedError: ServiceUnavailableException is status 529 overloaded_error", async () => {
      harness.emulator.setFaults({ rules: [{ error: "ServiceUnavailableException", rate: 1 }] });
      const error = await rejection<APIError>(gatewayClient().messages.create(params()), APIError);
      expect(error).toBeInstanceOf(OverloadedError);
      expect(error).toBeInstanceOf(InternalServerError);
      expect(error.status).toBe(529);
      expect(error.type).toBe("overloaded_error");
      expectLedgered(error.requestID, { errorName: "ServiceUnavailableException" });
    });

    it("request_too_large: a body above limits.maxBodyBytes is a 413 before anything goes upstream", async () => {
      const before = requests().length;
      const error = await rejection<APIError>(
        gatewayClient().messages.create(
          params({ messages: [{ role: "user", content: "x".repeat(MAX_BODY_BYTES + 100) }] }),
        ),
        APIError,
      );
      expect(error.status).toBe(413);
      expect(error.type).toBe("request_too_large");
      expect(error.message).toContain(String(MAX_BODY_BYTES));
      expect(error.requestID).toMatch(/^req_/);
      expect(requests().length).toBe(before);
    });

    it("an error mid-stream: messages.stream() rejects with an APIError after the first deltas", async () => {
      const request = params({ messages: [{ role: "user", content: "Break this stream [[tokens=90]]" }] });
      const full = textOf(await gatewayClient().messages.create(request));
      harness.emulator.setFaults({
        rules: [{ error: "ModelStreamErrorException", rate: 1, afterEvents: 4 }],
      });
      const stream = gatewayClient().messages.stream(request);
      const deltas: string[] = [];
      stream.on("text", (delta) => deltas.push(delta));
      stream.on("error", () => undefined);
      const error = await rejection<APIError>(stream.finalMessage(), APIError);
      expect(error.type).toBe("api_error");
      expect(deltas.length).toBeGreaterThan(0);
      const received = deltas.join("");
      expect(received.length).toBeLessThan(full.length);
      expect(full.startsWith(received)).toBe(true);
      expect(lastRequest().errorName).toBe("ModelStreamErrorException");
      await vi.waitFor(() => expectLedgered(stream.request_id, { stream: true, partial: true }));
    });
  });
});

/**
 * A second gateway in front of the suite's emulator, with `options` laid over the usual ones, a
 * fresh ledger and key store and a key named "conformance", for the enclosing describe.
 */
function useOwnGateway(
  prefix: string,
  options: Partial<Parameters<typeof startGateway>[0]>,
): { readonly gateway: RunningGateway; readonly token: string } {
  const own = { gateway: undefined as unknown as RunningGateway, token: "" };
  beforeAll(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
    own.gateway = await startGateway({
      port: 0,
      host: "127.0.0.1",
      ...emulatorTarget(harness.emulator),
      ...options,
      ledger: { path: path.join(dir, "ledger.db") },
      keys: { path: path.join(dir, "keys.db") },
      logging: { sink: () => undefined },
    });
    own.token = own.gateway.keys.create({ name: "conformance" }).token;
    await vi.waitFor(() => expect(own.gateway.open()).toBe(false), { timeout: 3000, interval: 50 });
  });
  afterAll(async () => {
    await own.gateway?.close();
  });
  return own;
}

describe("an upstream AccessDenied (the gateway's AWS identity has no model access)", () => {
  const own = useOwnGateway("bc-gateway-noaccess-", {
    credentials: { accessKeyId: NO_ACCESS.accessKeyId, secretAccessKey: NO_ACCESS.secretAccessKey },
  });

  it("is a PermissionDeniedError carrying the gateway's request id", async () => {
    const client = new Anthropic({ baseURL: own.gateway.url, apiKey: own.token, maxRetries: 0 });
    const error = await rejection<APIError>(client.messages.create(params()), APIError);
    expect(error).toBeInstanceOf(PermissionDeniedError);
    expect(error.status).toBe(403);
    expect(error.type).toBe("permission_error");
    expect(error.requestID).toMatch(/^req_/);
    expect(lastRequest().identity).toBe(NO_ACCESS.name);
    expect(lastRequest().errorName).toBe("AccessDeniedException");
  });
});

describe("the anthropic-version header reaches an Anthropic-native upstream", () => {
  const own = useOwnGateway("bc-gateway-native-", { bedrockApi: "messages" });

  it("the SDK's version is accepted; a version the upstream does not know is its BadRequestError", async () => {
    const client = new Anthropic({ baseURL: own.gateway.url, apiKey: own.token, maxRetries: 0 });
    const message = await client.messages.create(params());
    expect(message.model).toBe(MODEL);
    expect(lastRequest().api).toBe("bedrock-native");
    const error = await rejection<APIError>(
      client.messages.create(params(), { headers: { "anthropic-version": "1999-01-01" } }),
      APIError,
    );
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error.message).toContain("Invalid API version: 1999-01-01");
    expect(lastRequest().api).toBe("bedrock-native");
  });
});

/** An SSE body split into its frames, each checked for Anthropic's exact framing. */
function sseFrames(text: string): { event: string; data: Record<string, unknown> }[] {
  expect(text.endsWith("\n\n")).toBe(true);
  const blocks = text.slice(0, -2).split("\n\n");
  return blocks.map((block) => {
    const match = /^event: ([a-z_]+)\ndata: (\{[^\n]*\})$/.exec(block);
    if (!match) throw new Error(`not an Anthropic SSE frame: ${JSON.stringify(block)}`);
    const data = JSON.parse(match[2]!) as Record<string, unknown>;
    expect(data.type).toBe(match[1]);
    // One space after the colon, the JSON compact (no spaces a re-serialisation would drop).
    expect(`event: ${match[1]}\ndata: ${JSON.stringify(data)}`).toBe(block);
    return { event: match[1]!, data };
  });
}

/**
 * The parts of two streams that must be equal whatever the upstream. Set aside: ids, and what
 * Bedrock's InvokeModel stream itself carries differently from the Anthropic API (its invocation
 * metrics on message_stop; no `usage.cache_creation` breakdown), which the transport passes on.
 */
function comparable(frame: { event: string; data: Record<string, unknown> }): unknown {
  return JSON.parse(
    JSON.stringify(frame.data, (name, value) => {
      if (name === "id" && typeof value === "string") return "<id>";
      if (name === "amazon-bedrock-invocationMetrics" || name === "cache_creation") return undefined;
      return value;
    }),
  );
}

describe("raw HTTP, as curl sends it", () => {
  const body = (overrides: Record<string, unknown> = {}) =>
    JSON.stringify({
      model: MODEL,
      max_tokens: 256,
      messages: [{ role: "user", content: "Frame this answer [[tokens=40]]" }],
      ...overrides,
    });
  const post = (url: string, apiKey: string, payload: string, path = "/v1/messages") =>
    fetch(`${url}${path}`, {
      method: "POST",
      headers: { "x-api-key": apiKey, "anthropic-version": "2023-06-01", "content-type": "application/json" },
      body: payload,
    });

  it("stream: true is SSE framed exactly as the Anthropic API frames it (byte for byte, ids aside)", async () => {
    const through = await post(harness.gateway.url, key.token, body({ stream: true }));
    expect(through.status).toBe(200);
    expect(through.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const requestId = through.headers.get("request-id");
    const throughText = await through.text();

    const direct = await post(
      harness.emulator.url,
      harness.emulator.credentials.anthropicApiKey,
      body({ stream: true }),
    );
    expect(direct.status).toBe(200);
    const directText = await direct.text();

    const gatewayFrames = sseFrames(throughText);
    const directFrames = sseFrames(directText);
    const events = gatewayFrames.map((f) => f.event);
    expect(events).toEqual(directFrames.map((f) => f.event));
    // The Anthropic API's order: message_start, content_block_start, ping, deltas, stop, message_delta, message_stop.
    expect(events.slice(0, 3)).toEqual(["message_start", "content_block_start", "ping"]);
    expect(events.slice(-3)).toEqual(["content_block_stop", "message_delta", "message_stop"]);
    expect(new Set(events.slice(3, -3))).toEqual(new Set(["content_block_delta"]));
    expect(gatewayFrames.map(comparable)).toEqual(directFrames.map(comparable));
    expectLedgered(requestId, { stream: true, status: 200, outputTokens: 40 });
  });

  it("stream: false is the Anthropic message JSON with request-id", async () => {
    const response = await post(harness.gateway.url, key.token, body());
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    const message = (await response.json()) as Message;
    expect(message.type).toBe("message");
    expect(message.model).toBe(MODEL);
    expect(message.usage.output_tokens).toBe(40);
    expectLedgered(response.headers.get("request-id"), { stream: false, outputTokens: 40 });
  });

  it("Authorization: Bearer works as x-api-key does", async () => {
    const response = await fetch(`${harness.gateway.url}/v1/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.token}`, "content-type": "application/json" },
      body: body(),
    });
    expect(response.status).toBe(200);
    expectLedgered(response.headers.get("request-id"));
  });

  const expectAnthropicError = async (response: Response, status: number, type: string) => {
    expect(response.status).toBe(status);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    const requestId = response.headers.get("request-id");
    expect(requestId).toMatch(/^req_/);
    const json = (await response.json()) as Record<string, unknown>;
    expect(json).toEqual({
      type: "error",
      error: { type, message: expect.any(String) },
      request_id: requestId,
    });
    return json as { error: { message: string } };
  };

  it("a malformed JSON body is a 400 invalid_request_error in Anthropic's error shape", async () => {
    const before = requests().length;
    const json = await expectAnthropicError(
      await post(harness.gateway.url, key.token, '{"model": "claude-sonnet-4-6", "max_tokens": '),
      400,
      "invalid_request_error",
    );
    expect(json.error.message.length).toBeGreaterThan(0);
    expect(requests().length).toBe(before);
    const notObject = await post(harness.gateway.url, key.token, "[1, 2, 3]");
    await expectAnthropicError(notObject, 400, "invalid_request_error");
  });

  it("an unknown route or a wrong method is a 404 not_found_error in Anthropic's error shape", async () => {
    await expectAnthropicError(
      await post(harness.gateway.url, key.token, body(), "/v1/no-such-thing"),
      404,
      "not_found_error",
    );
    await expectAnthropicError(
      await fetch(`${harness.gateway.url}/v1/messages`, { headers: { "x-api-key": key.token } }),
      404,
      "not_found_error",
    );
  });

  it("no key at all is a 401 authentication_error in Anthropic's error shape", async () => {
    const response = await fetch(`${harness.gateway.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: body(),
    });
    await expectAnthropicError(response, 401, "authentication_error");
  });

  it("a mid-stream error is an SSE error event in Anthropic's shape, after the first frames", async () => {
    harness.emulator.setFaults({ rules: [{ error: "ModelStreamErrorException", rate: 1, afterEvents: 4 }] });
    const response = await post(harness.gateway.url, key.token, body({ stream: true }));
    expect(response.status).toBe(200);
    const frames = sseFrames(await response.text());
    const last = frames.at(-1)!;
    expect(last.event).toBe("error");
    expect(last.data).toMatchObject({ type: "error", error: { type: "api_error" } });
    expect(frames.filter((f) => f.event === "content_block_delta").length).toBeGreaterThan(0);
    expect(frames.some((f) => f.event === "message_stop")).toBe(false);
  });
});
