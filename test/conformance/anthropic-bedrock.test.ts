/**
 * Conformance of the emulator with the official `@anthropic-ai/bedrock-sdk` clients, unmodified
 * apart from base URL and credentials, over real HTTP:
 * - `AnthropicBedrock` (InvokeModel / InvokeModelWithResponseStream, AWS event stream), SigV4 and
 *   Bedrock API key;
 * - `AnthropicBedrockMantle` (`/anthropic/v1/messages`, SSE), SigV4 (`bedrock-mantle`) and API key.
 */
import { AnthropicBedrock, AnthropicBedrockMantle } from "@anthropic-ai/bedrock-sdk";
import { afterEach, describe, expect, it } from "vitest";
import {
  HAIKU_45_PROFILE,
  NO_ACCESS,
  NO_ACCESS_API_KEY,
  SONNET_46_PROFILE,
  useEmulator,
} from "../helpers.js";

// The SDK's own error classes. The published ESM entry of @anthropic-ai/bedrock-sdk 1.1.3 does not
// re-export them (its src/index.ts does), so they are taken from the client class, which carries them.
const {
  APIError,
  BadRequestError,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
} = AnthropicBedrock;
type APIErrorInstance = InstanceType<typeof APIError>;

const REGION = "us-east-1";
const MANTLE_OPUS_47 = "anthropic.claude-opus-4-7";
const MANTLE_SONNET_46 = "anthropic.claude-sonnet-4-6";
/** A denied flag of data/bedrock-betas.json (Bedrock answers `invalid beta flag`). */
const DENIED_BETA = "advanced-tool-use-2025-11-20";
const emulator = useEmulator({
  config: {
    identities: [{ ...NO_ACCESS, modelAccess: [] }],
    apiKeys: [{ key: NO_ACCESS_API_KEY, identity: NO_ACCESS.name }],
  },
});

type MessagesApi = AnthropicBedrock["messages"];

interface ClientCase {
  name: string;
  /** Builds the client (as the no-access identity if asked), `maxRetries: 0` so errors surface at once. */
  make: (noAccess?: boolean) => {
    messages: MessagesApi;
    beta: { messages: Pick<AnthropicBedrock["beta"]["messages"], "create"> };
  };
  /** The operation the emulator's journal records for a non-streaming call. */
  operation: string;
  models: string[];
  mantle: boolean;
}

const url = () => emulator.current.url;
const keys = (noAccess = false) =>
  noAccess
    ? NO_ACCESS
    : {
        accessKeyId: emulator.current.credentials.accessKeyId,
        secretAccessKey: emulator.current.credentials.secretAccessKey,
      };
const apiKey = (noAccess = false) => (noAccess ? NO_ACCESS_API_KEY : emulator.current.credentials.apiKey);

const CLIENTS: ClientCase[] = [
  {
    name: "AnthropicBedrock (SigV4)",
    make: (noAccess) =>
      new AnthropicBedrock({
        baseURL: url(),
        awsRegion: REGION,
        awsAccessKey: keys(noAccess).accessKeyId,
        awsSecretKey: keys(noAccess).secretAccessKey,
        // `null` keeps AWS_BEARER_TOKEN_BEDROCK from the environment out of the way.
        apiKey: null,
        maxRetries: 0,
      }),
    operation: "InvokeModel",
    models: [SONNET_46_PROFILE, HAIKU_45_PROFILE],
    mantle: false,
  },
  {
    name: "AnthropicBedrock (API key)",
    make: (noAccess) =>
      new AnthropicBedrock({
        baseURL: url(),
        awsRegion: REGION,
        apiKey: apiKey(noAccess),
        maxRetries: 0,
      }),
    operation: "InvokeModel",
    models: [SONNET_46_PROFILE, HAIKU_45_PROFILE],
    mantle: false,
  },
  {
    name: "AnthropicBedrockMantle (SigV4)",
    make: (noAccess) =>
      new AnthropicBedrockMantle({
        baseURL: `${url()}/anthropic`,
        awsRegion: REGION,
        awsAccessKey: keys(noAccess).accessKeyId,
        awsSecretAccessKey: keys(noAccess).secretAccessKey,
        maxRetries: 0,
      }),
    operation: "CreateMessage",
    models: [MANTLE_OPUS_47, MANTLE_SONNET_46],
    mantle: true,
  },
  {
    name: "AnthropicBedrockMantle (API key)",
    make: (noAccess) =>
      new AnthropicBedrockMantle({
        baseURL: `${url()}/anthropic`,
        awsRegion: REGION,
        apiKey: apiKey(noAccess),
        maxRetries: 0,
      }),
    operation: "CreateMessage",
    models: [MANTLE_OPUS_47, MANTLE_SONNET_46],
    mantle: true,
  },
];

function textOf(message: { content: Array<{ type: string }> }): string {
  return message.content
    .filter((b): b is { type: "text"; text: string } => b.type === "text")
    .map((b) => b.text)
    .join("");
}

afterEach(() => {
  emulator.current.clearFaults();
});

describe.each(CLIENTS)("$name", (client) => {
  const request = (model: string, prompt = "Hello from the conformance suite") => ({
    model,
    max_tokens: 256,
    messages: [{ role: "user" as const, content: prompt }],
  });

  describe.each(client.models)("model %s", (model) => {
    it("messages.create answers with the emulator's deterministic text", async () => {
      const message = await client.make().messages.create(request(model));
      expect(message.type).toBe("message");
      expect(message.role).toBe("assistant");
      expect(message.id).toMatch(/^msg_bdrk_/);
      expect(message.stop_reason).toBe("end_turn");
      expect(message.content).toHaveLength(1);
      expect(message.content[0]!.type).toBe("text");
      expect(textOf(message)).toMatch(/^This is the bedrock-claude emulator answering as claude-/);
      expect(textOf(message)).toContain('You said: "Hello from the conformance suite".');
      expect(message.usage.input_tokens).toBeGreaterThan(0);
      expect(message.usage.output_tokens).toBeGreaterThan(0);
      // The request reached the emulator under the id the SDK was given (`:` left raw in the path).
      const last = emulator.current.requests().at(-1)!;
      expect(last.model).toBe(model);
      expect(last.operation).toBe(client.operation);
      expect(last.status).toBe(200);
    });

    it("messages.stream: text events concatenate to finalMessage() text; usage matches create()", async () => {
      const params = request(model, "Stream this answer please [[tokens=120]]");
      const created = await client.make().messages.create(params);

      const stream = client.make().messages.stream(params);
      let streamed = "";
      let textEvents = 0;
      stream.on("text", (delta) => {
        streamed += delta;
        textEvents++;
      });
      const final = await stream.finalMessage();

      expect(textEvents).toBeGreaterThan(1);
      expect(streamed).toBe(textOf(final));
      expect(textOf(final)).toBe(textOf(created));
      expect(final.model).toBe(created.model);
      expect(final.stop_reason).toBe(created.stop_reason);
      expect(final.usage.output_tokens).toBe(created.usage.output_tokens);
      expect(final.usage.output_tokens).toBeGreaterThanOrEqual(120);
      expect(final.usage.input_tokens).toBe(created.usage.input_tokens);
    });
  });

  it("denied beta flag via `betas` is a BadRequestError `invalid beta flag`", async () => {
    const error = await client
      .make()
      .beta.messages.create({ ...request(client.models[0]!), betas: [DENIED_BETA] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as APIErrorInstance).status).toBe(400);
    expect((error as APIErrorInstance).message).toContain("invalid beta flag");
  });

  it("denied beta flag via the `anthropic-beta` header is a BadRequestError `invalid beta flag`", async () => {
    const error = await client
      .make()
      .messages.create(request(client.models[0]!), { headers: { "anthropic-beta": `oauth-2025-04-20` } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as APIErrorInstance).message).toContain("invalid beta flag");
  });

  it("an unsupported anthropic_version is a BadRequestError", async () => {
    // The SDK carries its `anthropic-version` header (into the body, for InvokeModel).
    const error = await client
      .make()
      .messages.create(request(client.models[0]!), { headers: { "anthropic-version": "bedrock-2023-06-01" } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as APIErrorInstance).message).toContain("Invalid API version: bedrock-2023-06-01");
  });

  it("an identity without model access gets PermissionDeniedError", async () => {
    const error = await client
      .make(true)
      .messages.create(request(client.models[0]!))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermissionDeniedError);
    expect((error as APIErrorInstance).status).toBe(403);
    expect((error as APIErrorInstance).message).toContain("You don't have access to the model");
  });

  it("ThrottlingException is a RateLimitError", async () => {
    emulator.current.setFaults({ rules: [{ error: "ThrottlingException", rate: 1 }] });
    const error = await client
      .make()
      .messages.create(request(client.models[0]!))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as APIErrorInstance).status).toBe(429);
    expect((error as APIErrorInstance).message).toContain("Too many requests");
  });

  it("InternalServerException is an InternalServerError", async () => {
    emulator.current.setFaults({ rules: [{ error: "InternalServerException", rate: 1 }] });
    const error = await client
      .make()
      .messages.create(request(client.models[0]!))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InternalServerError);
    expect((error as APIErrorInstance).status).toBe(500);
  });

  it("a ModelStreamErrorException mid-stream rejects messages.stream() after the first deltas", async () => {
    const params = request(client.models[0]!, "Interrupt me part-way [[tokens=60]]");
    // The whole answer's text deltas, unfaulted.
    const deltas: string[] = [];
    const clean = client.make().messages.stream(params);
    clean.on("text", (delta) => deltas.push(delta));
    await clean.finalMessage();
    expect(deltas.length).toBeGreaterThan(3);

    // Events 1-4 are message_start, content_block_start and two text deltas; then the error.
    emulator.current.setFaults({ rules: [{ error: "ModelStreamErrorException", rate: 1, afterEvents: 4 }] });
    const stream = client.make().messages.stream(params);
    let received = "";
    stream.on("text", (delta) => {
      received += delta;
    });
    const error = await stream.finalMessage().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIErrorInstance).message).toContain("unexpected error");
    expect(received).toBe(deltas[0]! + deltas[1]!);
  });

  if (client.mantle) {
    it("an inference profile id is a NotFoundError on Mantle", async () => {
      const error = await client
        .make()
        .messages.create(request("us.anthropic.claude-opus-4-7"))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as APIErrorInstance).status).toBe(404);
    });
  } else {
    it("an invalid model id on InvokeModel is a BadRequestError", async () => {
      const error = await client
        .make()
        .messages.create(request("us.anthropic.claude-does-not-exist-9"))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BadRequestError);
      expect((error as APIErrorInstance).message).toContain("The provided model identifier is invalid.");
    });
  }
});
