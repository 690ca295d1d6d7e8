/**
 * The product's promise, tested: `createClient()` returns the official `Anthropic` client, and the
 * same user code runs unchanged on every provider. One suite, parameterised over four
 * configurations pointed at the local Bedrock emulator:
 * - `bedrock` InvokeModel / InvokeModelWithResponseStream (SigV4, us-west-2),
 * - `bedrock` with `bedrockApi: "messages"` (bedrock-runtime's native /anthropic/v1/messages),
 * - `bedrock-mantle` (Bedrock API key, us-east-1),
 * - `anthropic` (the emulator's Anthropic API endpoint, x-api-key).
 * No mocks: real HTTP to the emulator on 127.0.0.1, the SDK's own classes and helpers.
 */
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
import type { MessageCreateParamsNonStreaming } from "@anthropic-ai/sdk/resources/messages";
import { afterEach, describe, expect, it } from "vitest";
import { type CreateClientOptions, createClient } from "../../src/client.js";
import type { FaultRule, RequestRecord } from "../../src/emulator/index.js";
import {
  maxTokensTruncates,
  systemPrompt,
  textOf,
  toolRoundTrip,
  toolWhileStreaming,
  userCode,
  WEATHER_TOOL,
} from "../conformance/user-code.js";
import { NO_ACCESS, NO_ACCESS_API_KEY, rejection, useEmulator } from "../helpers.js";

const MODEL = "claude-sonnet-4-6";
/** Sonnet 4.6's output limit is 64000 tokens (data/models.json). */
const ABOVE_MAX_TOKENS = 100_000;
/** A flag of data/bedrock-betas.json's `denied` list: Bedrock answers `invalid beta flag`. */
const DENIED_BETA = "advanced-tool-use-2025-11-20";

const emulator = useEmulator({
  config: {
    identities: [{ ...NO_ACCESS, modelAccess: [] }],
    apiKeys: [{ key: NO_ACCESS_API_KEY, identity: NO_ACCESS.name }],
  },
});

type Provider = "bedrock" | "bedrock-mantle" | "anthropic";

interface ProviderCase {
  name: string;
  provider: Provider;
  /** A Bedrock provider (compatibility policy, model resolution against the catalog). */
  bedrock: boolean;
  /** Options for `createClient`, pointed at the emulator; `overrides` win. */
  options: (overrides?: Partial<CreateClientOptions>) => CreateClientOptions;
  /** Options that authenticate wrongly (wrong secret or key). */
  badAuth: () => Partial<CreateClientOptions>;
  /** Options that authenticate as the identity without model access; undefined: no equivalent. */
  noAccess?: () => Partial<CreateClientOptions>;
  /** The model id the emulator must see for `claude-sonnet-4-6`. */
  upstreamModel: string;
  /** The emulator's journal `api` for a Messages call. */
  api: RequestRecord["api"];
  /** The value of `x-bedrock-claude-target`. */
  target: string;
  /** The fault that breaks a stream after its first events. */
  streamFault: FaultRule;
}

const url = () => emulator.current.url;
const awsKeys = () => ({
  accessKeyId: emulator.current.credentials.accessKeyId,
  secretAccessKey: emulator.current.credentials.secretAccessKey,
});
const common = { anthropic: { maxRetries: 0 } } satisfies Partial<CreateClientOptions>;
const bedrockStreamFault: FaultRule = { error: "ModelStreamErrorException", rate: 1, afterEvents: 4 };

/** The `bedrock` provider in us-west-2 with the emulator's keys; `extra` picks the Bedrock API. */
function bedrockCase(
  name: string,
  api: RequestRecord["api"],
  extra: Partial<CreateClientOptions> = {},
): ProviderCase {
  return {
    name,
    provider: "bedrock",
    bedrock: true,
    options: (overrides = {}) => ({
      provider: "bedrock",
      ...extra,
      region: "us-west-2",
      endpoint: url(),
      credentials: awsKeys(),
      ...common,
      ...overrides,
    }),
    badAuth: () => ({ credentials: { accessKeyId: "test", secretAccessKey: "not-the-secret" } }),
    noAccess: () => ({
      credentials: { accessKeyId: NO_ACCESS.accessKeyId, secretAccessKey: NO_ACCESS.secretAccessKey },
    }),
    upstreamModel: "us.anthropic.claude-sonnet-4-6",
    api,
    target: "bedrock us-west-2",
    streamFault: bedrockStreamFault,
  };
}

const CASES: ProviderCase[] = [
  bedrockCase("bedrock (InvokeModel)", "bedrock-runtime"),
  bedrockCase("bedrock (native Messages API)", "bedrock-native", { bedrockApi: "messages" }),
  {
    name: "bedrock-mantle",
    provider: "bedrock-mantle",
    bedrock: true,
    options: (overrides = {}) => ({
      provider: "bedrock-mantle",
      region: "us-east-1",
      endpoint: url(),
      apiKey: emulator.current.credentials.apiKey,
      ...common,
      ...overrides,
    }),
    badAuth: () => ({ apiKey: "ABSKbm90LWEta2V5LWF0LWFsbA==" }),
    noAccess: () => ({ apiKey: NO_ACCESS_API_KEY }),
    upstreamModel: "anthropic.claude-sonnet-4-6",
    api: "bedrock-mantle",
    target: "bedrock-mantle us-east-1",
    streamFault: bedrockStreamFault,
  },
  {
    name: "anthropic",
    provider: "anthropic",
    bedrock: false,
    options: (overrides = {}) => ({
      provider: "anthropic",
      endpoint: url(),
      apiKey: emulator.current.credentials.anthropicApiKey,
      ...common,
      ...overrides,
    }),
    badAuth: () => ({ apiKey: "sk-ant-not-a-key" }),
    // No `noAccess`: the emulator's Anthropic API endpoint has keys but no per-model access
    // rights (it never answers permission_error), so PermissionDeniedError is not tested there.
    upstreamModel: "claude-sonnet-4-6",
    api: "anthropic",
    target: "anthropic",
    // ModelStreamErrorException is Bedrock's; the Anthropic API breaks a stream with an SSE error.
    streamFault: { error: "InternalServerException", rate: 1, afterEvents: 4 },
  },
];

const requests = () => emulator.current.requests();
const requestCount = () => requests().length;
const lastRequest = () => requests().at(-1)!;

afterEach(() => {
  emulator.current.clearFaults();
});

describe.each(CASES)("createClient({ provider: $name })", (c) => {
  const client = (overrides: Partial<CreateClientOptions> = {}) => createClient(c.options(overrides));
  const params = (
    overrides: Partial<MessageCreateParamsNonStreaming> = {},
  ): MessageCreateParamsNonStreaming => ({
    model: MODEL,
    max_tokens: 256,
    messages: [{ role: "user", content: "Hello from the client conformance suite" }],
    ...overrides,
  });

  it("returns the official Anthropic client", () => {
    const made = client();
    expect(made).toBeInstanceOf(Anthropic);
    expect(typeof made.messages.create).toBe("function");
    expect(typeof made.messages.stream).toBe("function");
  });

  it("runs the shared user code unchanged", async () => {
    const result = await userCode(client());
    expect(result.created.model).toBe(MODEL);
    expect(result.created.text).toContain('System prompt: "You answer briefly.".');
    expect(result.created.text).toContain('You said: "Tell me something".');
    expect(result.created.stopReason).toBe("end_turn");
    expect(result.created.outputTokens).toBe(60);
    expect(result.streamed.model).toBe(MODEL);
    expect(result.streamed.deltas).toBeGreaterThan(1);
    expect(result.streamed.deltasText).toBe(result.streamed.text);
    expect(result.streamed.outputTokens).toBe(45);
    expect(result.tool).toEqual({
      stopReason: "tool_use",
      name: "get_weather",
      input: { city: "Paris" },
      idShape: true,
      answer: 'Tool get_weather returned: "18 degrees and sunny in Paris".',
      answerStopReason: "end_turn",
    });
  });

  it("messages.create: the model by its Anthropic name, answered under that name", async () => {
    const before = requestCount();
    const message = await client().messages.create(params());
    expect(message.type).toBe("message");
    expect(message.role).toBe("assistant");
    expect(message.model).toBe(MODEL);
    expect(message.stop_reason).toBe("end_turn");
    expect(message.content).toHaveLength(1);
    expect(textOf(message)).toBe(
      `This is the bedrock-claude emulator answering as ${MODEL}. You said: "Hello from the client conformance suite".`,
    );
    expect(message.usage.input_tokens).toBeGreaterThan(0);
    expect(message.usage.output_tokens).toBeGreaterThan(0);
    expect(requestCount()).toBe(before + 1);
    const last = lastRequest();
    expect(last.api).toBe(c.api);
    expect(last.status).toBe(200);
    expect(last.stream).toBe(false);
    expect(last.outputTokens).toBe(message.usage.output_tokens);
  });

  it("messages.stream: text deltas concatenate to finalMessage(), which matches create()", async () => {
    const request = params({ messages: [{ role: "user", content: "Stream me [[tokens=90]]" }] });
    const created = await client().messages.create(request);
    const stream = client().messages.stream(request);
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
    expect(lastRequest().api).toBe(c.api);
  });

  it("tool use round trip: tool_use block, tool_result back, final text names the result", () =>
    toolRoundTrip(client()));

  it("tool use while streaming: the SDK assembles the tool_use input", () => toolWhileStreaming(client()));

  it("system prompt: a string and an array of text blocks", () => systemPrompt(client()));

  it("stop sequences cut the answer and are reported", async () => {
    const message = await client().messages.create(params({ stop_sequences: ["emulator", "never-seen"] }));
    expect(message.stop_reason).toBe("stop_sequence");
    expect(message.stop_sequence).toBe("emulator");
    expect(textOf(message).trimEnd()).toBe("This is the bedrock-claude");

    const stream = client().messages.stream(params({ stop_sequences: ["emulator"] }));
    const final = await stream.finalMessage();
    expect(final.stop_reason).toBe("stop_sequence");
    expect(final.stop_sequence).toBe("emulator");
    // Streaming or not, the same request gets the same text.
    expect(textOf(final)).toBe(textOf(message));
    expect(final.usage.output_tokens).toBe(message.usage.output_tokens);
  });

  it("max_tokens truncates: stop_reason max_tokens and output_tokens === max_tokens", () =>
    maxTokensTruncates(client()));

  it("thinking (enabled, budget 1024) in create: a signed thinking block before the text", async () => {
    const message = await client().messages.create(
      params({ max_tokens: 2048, thinking: { type: "enabled", budget_tokens: 1024 } }),
    );
    expect(message.content.map((b) => b.type)).toEqual(["thinking", "text"]);
    const thinking = message.content[0]!;
    expect(thinking.type === "thinking" && thinking.thinking.length > 0).toBe(true);
    expect(thinking.type === "thinking" && thinking.signature.length > 0).toBe(true);
    expect(textOf(message)).toContain("You said:");
    expect(message.stop_reason).toBe("end_turn");
  });

  it("thinking (enabled, budget 1024) in stream: thinking deltas, then text; matches create()", async () => {
    const request = params({ max_tokens: 2048, thinking: { type: "enabled", budget_tokens: 1024 } });
    const created = await client().messages.create(request);
    const stream = client().messages.stream(request);
    let thinking = "";
    let text = "";
    stream.on("thinking", (delta) => {
      thinking += delta;
    });
    stream.on("text", (delta) => {
      text += delta;
    });
    const final = await stream.finalMessage();
    expect(final.content.map((b) => b.type)).toEqual(["thinking", "text"]);
    const block = final.content[0]!;
    expect(block.type === "thinking" ? block.thinking : undefined).toBe(thinking);
    expect(block.type === "thinking" ? block.signature : "").not.toBe("");
    expect(thinking.length).toBeGreaterThan(0);
    expect(text).toBe(textOf(final));
    expect(final.content).toEqual(created.content);
    expect(final.usage.output_tokens).toBe(created.usage.output_tokens);
  });

  it("count_tokens equals the input_tokens billed for the same request", async () => {
    const request = params({
      system: "You count carefully.",
      tools: [WEATHER_TOOL],
      messages: [
        { role: "user", content: "How many tokens is this prompt, roughly?" },
        { role: "assistant", content: "Let me think." },
        { role: "user", content: "Please answer." },
      ],
    });
    const counted = await client().messages.countTokens({
      model: request.model,
      system: request.system,
      tools: request.tools,
      messages: request.messages,
    });
    expect(counted.input_tokens).toBeGreaterThan(0);
    const created = await client().messages.create(request);
    expect(created.usage.input_tokens).toBe(counted.input_tokens);
    expect(lastRequest().inputTokens).toBe(counted.input_tokens);
  });

  it(`resolves ${MODEL} to ${c.upstreamModel} for this target`, async () => {
    await client().messages.create(params());
    expect(lastRequest().model).toBe(c.upstreamModel);
    await client().messages.stream(params()).finalMessage();
    expect(lastRequest().model).toBe(c.upstreamModel);
  });

  if (c.provider === "bedrock") {
    it("resolves per region: eu-west-1 gets the eu. inference profile", async () => {
      const message = await client({ region: "eu-west-1" }).messages.create(params());
      expect(message.model).toBe(MODEL);
      const last = lastRequest();
      expect(last.region).toBe("eu-west-1");
      expect(last.model).toBe("eu.anthropic.claude-sonnet-4-6");
    });

    it('resolves per geography: geography "global" gets the global. inference profile', async () => {
      const message = await client({ geography: "global" }).messages.create(params());
      expect(message.model).toBe(MODEL);
      const last = lastRequest();
      expect(last.region).toBe("us-west-2");
      expect(last.model).toBe("global.anthropic.claude-sonnet-4-6");
    });
  }

  if (c.bedrock) {
    it("an unknown model fails before any upstream request, with a NotFoundError listing choices", async () => {
      const before = requestCount();
      const error = await rejection(client().messages.create(params({ model: "claude-imaginary-9" })));
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as APIError).status).toBe(404);
      expect((error as APIError).type).toBe("not_found_error");
      expect((error as APIError).message).toContain("claude-imaginary-9");
      expect((error as APIError).message).toContain(MODEL);
      // Nothing at all went upstream: no invocation, and no control-plane lookup either.
      expect(
        requests()
          .slice(before)
          .map((r) => `${r.api} ${r.operation}`),
      ).toEqual([]);
    });
  } else {
    it("an unknown claude-* name goes to the Anthropic API, which answers NotFoundError", async () => {
      const before = requestCount();
      const error = await rejection(client().messages.create(params({ model: "claude-imaginary-9" })));
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as APIError).status).toBe(404);
      expect(requestCount()).toBe(before + 1);
      expect(lastRequest().api).toBe("anthropic");
      expect(lastRequest().status).toBe(404);
    });

    it("an unknown name that is not claude-* fails before any upstream request, listing choices", async () => {
      const before = requestCount();
      const error = await rejection(client().messages.create(params({ model: "gpt-imaginary" })));
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as APIError).message).toContain(MODEL);
      expect(requestCount()).toBe(before);
    });
  }

  describe("errors are the official SDK's classes", () => {
    it("BadRequestError: max_tokens above the model's limit", async () => {
      const error = await rejection(
        // A request timeout keeps the SDK from refusing a large non-streaming max_tokens itself.
        client().messages.create(params({ max_tokens: ABOVE_MAX_TOKENS }), { timeout: 60_000 }),
      );
      expect(error).toBeInstanceOf(BadRequestError);
      expect((error as APIError).status).toBe(400);
      expect((error as APIError).type).toBe("invalid_request_error");
      expect((error as APIError).message).toContain("max_tokens");
    });

    it("AuthenticationError: wrong secret or key", async () => {
      const error = await rejection(client(c.badAuth()).messages.create(params()));
      expect(error).toBeInstanceOf(AuthenticationError);
      expect((error as APIError).status).toBe(401);
      expect((error as APIError).type).toBe("authentication_error");
      expect(lastRequest().status).not.toBe(200);
    });

    const noAccess = c.noAccess;
    if (noAccess) {
      it("PermissionDeniedError: an identity without model access", async () => {
        const error = await rejection(client(noAccess()).messages.create(params()));
        expect(error).toBeInstanceOf(PermissionDeniedError);
        expect((error as APIError).status).toBe(403);
        expect((error as APIError).type).toBe("permission_error");
        expect(lastRequest().identity).toBe(NO_ACCESS.name);
      });
    }

    it("NotFoundError: a model name nobody serves", async () => {
      const error = await rejection(client().messages.create(params({ model: "claude-imaginary-9" })));
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as APIError).type).toBe("not_found_error");
    });

    it("RateLimitError: ThrottlingException", async () => {
      emulator.current.setFaults({ rules: [{ error: "ThrottlingException", rate: 1 }] });
      const error = await rejection(client().messages.create(params()));
      expect(error).toBeInstanceOf(RateLimitError);
      expect((error as APIError).status).toBe(429);
      expect((error as APIError).type).toBe("rate_limit_error");
      expect(lastRequest().errorName).toBe("ThrottlingException");
    });

    it("InternalServerError: InternalServerException", async () => {
      emulator.current.setFaults({ rules: [{ error: "InternalServerException", rate: 1 }] });
      const error = await rejection(client().messages.create(params()));
      expect(error).toBeInstanceOf(InternalServerError);
      expect((error as APIError).status).toBe(500);
      expect((error as APIError).type).toBe("api_error");
    });

    it("overloaded: ServiceUnavailableException is status 529 (OverloadedError)", async () => {
      emulator.current.setFaults({ rules: [{ error: "ServiceUnavailableException", rate: 1 }] });
      const error = await rejection(client().messages.create(params()));
      expect(error).toBeInstanceOf(OverloadedError);
      expect(error).toBeInstanceOf(InternalServerError);
      expect((error as APIError).status).toBe(529);
      expect((error as APIError).type).toBe("overloaded_error");
    });

    it("errors carry the request id", async () => {
      emulator.current.setFaults({ rules: [{ error: "ThrottlingException", rate: 1 }] });
      const error = await rejection(client().messages.create(params()));
      expect((error as APIError).requestID).toBe(lastRequest().requestId);
    });

    it("an error mid-stream makes messages.stream() reject after the first deltas", async () => {
      const request = params({ messages: [{ role: "user", content: "Break this stream [[tokens=90]]" }] });
      const full = textOf(await client().messages.create(request));
      emulator.current.setFaults({ rules: [c.streamFault] });
      const stream = client().messages.stream(request);
      const deltas: string[] = [];
      stream.on("text", (delta) => deltas.push(delta));
      // Errors are also emitted as events; listening keeps them from surfacing as unhandled.
      stream.on("error", () => undefined);
      const error = await rejection(stream.finalMessage());
      expect(error).toBeInstanceOf(APIError);
      expect((error as APIError).type).toBe("api_error");
      expect(deltas.length).toBeGreaterThan(0);
      const received = deltas.join("");
      expect(received.length).toBeLessThan(full.length);
      expect(full.startsWith(received)).toBe(true);
      expect(lastRequest().stream).toBe(true);
      expect(lastRequest().errorName).toBe(c.streamFault.error);
    });
  });

  it("response headers: x-bedrock-claude-target and request-id, through withResponse()", async () => {
    const { data, response, request_id } = await client().messages.create(params()).withResponse();
    expect(data.model).toBe(MODEL);
    expect(response.headers.get("x-bedrock-claude-target")).toBe(c.target);
    const requestId = response.headers.get("request-id");
    expect(requestId).toBeTruthy();
    expect(requestId).toBe(lastRequest().requestId);
    expect(request_id).toBe(requestId);
  });

  if (c.bedrock) {
    it("a denied beta flag is dropped with a warning, and the call succeeds", async () => {
      const warnings: string[] = [];
      const made = client({ warn: (m) => warnings.push(m) });
      const before = requestCount();
      const message = await made.beta.messages.create({ ...params(), betas: [DENIED_BETA] });
      expect(message.model).toBe(MODEL);
      expect(message.stop_reason).toBe("end_turn");
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(DENIED_BETA);
      // Dropped before sending: one upstream request, not a refusal and a retry.
      expect(requestCount()).toBe(before + 1);
      expect(lastRequest().status).toBe(200);
    });

    it('with compatibility "strict" the same call is a BadRequestError before any upstream request', async () => {
      const warnings: string[] = [];
      const made = client({ compatibility: "strict", warn: (m) => warnings.push(m) });
      const before = requestCount();
      const error = await rejection(made.beta.messages.create({ ...params(), betas: [DENIED_BETA] }));
      expect(error).toBeInstanceOf(BadRequestError);
      expect((error as APIError).status).toBe(400);
      expect((error as APIError).message).toContain(DENIED_BETA);
      expect(requestCount()).toBe(before);
      expect(warnings).toEqual([]);
    });
  } else {
    it("beta flags go to the Anthropic API as given: no warning, no local refusal, even when strict", async () => {
      for (const compatibility of ["drop", "strict"] as const) {
        const warnings: string[] = [];
        const made = client({ compatibility, warn: (m) => warnings.push(m) });
        const before = requestCount();
        // Whatever the API answers, the decision is its own: the call reaches it.
        await made.beta.messages.create({ ...params(), betas: [DENIED_BETA] }).catch(() => undefined);
        expect(warnings).toEqual([]);
        expect(requestCount()).toBe(before + 1);
        expect(lastRequest().api).toBe("anthropic");
      }
    });
  }
});

describe("the same user code on every provider", () => {
  it("gives the same results on bedrock (both APIs), bedrock-mantle and anthropic", async () => {
    const results = [];
    for (const c of CASES) results.push({ provider: c.name, ...(await userCode(createClient(c.options()))) });
    const [reference, ...others] = results;
    expect(reference!.created.outputTokens).toBe(60);
    for (const other of others) {
      expect({ ...other, provider: reference!.provider }).toEqual(reference);
    }
  });
});
