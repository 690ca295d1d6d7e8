/**
 * Issue #7, "Done when": the unmodified `@aws-sdk/client-bedrock-runtime` and
 * `@anthropic-ai/bedrock-sdk`, pointed at the gateway with a virtual key, invoke and stream through
 * the Bedrock-compatible routes. The AWS SDK signs with the key's pair (SigV4) and speaks HTTP/2 to
 * an http endpoint (the gateway serves h2c on the same port); `AnthropicBedrock` uses the key as a
 * Bedrock API key (Bearer) or signs with the pair; the native `/anthropic/v1/messages` takes Bearer.
 * Every answer is compared with what the emulator itself answers the same client, and every
 * model call must reach the ledger under the key's name and the emulator behind the gateway.
 */
import { AnthropicBedrock, AnthropicBedrockMantle } from "@anthropic-ai/bedrock-sdk";
import {
  AccessDeniedException,
  BedrockRuntimeClient,
  CountTokensCommand,
  InternalServerException,
  InvokeModelCommand,
  type InvokeModelCommandOutput,
  InvokeModelWithResponseStreamCommand,
  ModelStreamErrorException,
  ServiceUnavailableException,
  ThrottlingException,
  ValidationException,
} from "@aws-sdk/client-bedrock-runtime";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { CreatedKey } from "../../src/gateway/index.js";
import type { LedgerRequest } from "../../src/usage/ledger.js";
import {
  type AwsCredentials,
  awsClientConfig,
  HAIKU_45_PROFILE,
  invokeBody,
  rejection,
  SONNET_46_FOUNDATION,
  SONNET_46_PROFILE,
  signedFetch,
  useClients,
} from "../helpers.js";
import { useGateway } from "./gateway-helpers.js";

// The bedrock-sdk's error classes, carried by the client class (its ESM entry does not export them).
const { APIError, AuthenticationError, PermissionDeniedError, RateLimitError } = AnthropicBedrock;
type APIErrorInstance = InstanceType<typeof APIError>;

const REGION = "us-east-1";
const KEY_NAME = "bedrock-door";

const harness = useGateway();

let key: CreatedKey;
let haikuOnly: CreatedKey;

beforeAll(async () => {
  key = harness.gateway.keys.create({ name: KEY_NAME });
  haikuOnly = harness.gateway.keys.create({ name: "haiku-only", models: ["claude-haiku-4-5*"] });
  // The gateway reads whether keys exist at most once a second: wait until it requires one.
  await vi.waitFor(() => expect(harness.gateway.open()).toBe(false), { timeout: 3000, interval: 50 });
});

afterEach(() => {
  harness.emulator.clearFaults();
});

const keep = useClients();

/** The official AWS client; `maxAttempts: 1` so that errors surface at once. */
function runtime(
  endpoint: "gateway" | "emulator" = "gateway",
  credentials: AwsCredentials = {
    accessKeyId: key.accessKeyId,
    secretAccessKey: key.secretAccessKey,
  },
): BedrockRuntimeClient {
  return keep(
    new BedrockRuntimeClient(
      endpoint === "gateway"
        ? awsClientConfig(harness.gateway.url, { region: REGION, credentials })
        : awsClientConfig(harness.emulator.url, { region: REGION }),
    ),
  );
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface AnthropicMessage {
  id: string;
  type: string;
  model: string;
  content: { type: string; text?: string }[];
  stop_reason: string;
  usage: { input_tokens: number; output_tokens: number };
}

function invoke(client: BedrockRuntimeClient, modelId: string, body = invokeBody()) {
  return client.send(
    new InvokeModelCommand({
      modelId,
      body: encoder.encode(JSON.stringify(body)),
      contentType: "application/json",
      accept: "application/json",
    }),
  );
}

const messageOf = (output: InvokeModelCommandOutput) =>
  JSON.parse(decoder.decode(output.body)) as AnthropicMessage;
const textOf = (message: { content: { type: string; text?: string }[] }) =>
  message.content.map((b) => (b.type === "text" ? (b.text ?? "") : "")).join("");

interface StreamResult {
  events: Record<string, unknown>[];
  requestId: string | undefined;
  contentType: string | undefined;
  error?: Error;
}

/** InvokeModelWithResponseStream, read with the SDK's own event-stream decoder. */
async function stream(client: BedrockRuntimeClient, modelId: string, body = invokeBody()) {
  const output = await client.send(
    new InvokeModelWithResponseStreamCommand({
      modelId,
      body: encoder.encode(JSON.stringify(body)),
      contentType: "application/json",
      accept: "application/json",
    }),
  );
  const result: StreamResult = {
    events: [],
    requestId: output.$metadata.requestId,
    contentType: output.contentType,
  };
  try {
    for await (const part of output.body ?? []) {
      if (!part.chunk?.bytes) throw new Error(`unexpected stream member: ${Object.keys(part).join(",")}`);
      result.events.push(JSON.parse(decoder.decode(part.chunk.bytes)) as Record<string, unknown>);
    }
  } catch (error) {
    result.error = error as Error;
  }
  return result;
}

/** The rejection of a call, or a failure when it succeeds. */
const rejectionOf = (call: Promise<unknown>) =>
  rejection<Error & { $metadata?: Record<string, unknown> }>(call);

const requests = () => harness.emulator.requests();
const lastRequest = () => requests().at(-1)!;

/** The ledger has the call under the gateway's request id and the key's name; the emulator saw it. */
function expectLedgered(
  requestId: string | null | undefined,
  expected: Partial<LedgerRequest> = {},
  keyName = KEY_NAME,
): LedgerRequest {
  expect(requestId).toMatch(/^req_/);
  const record = harness
    .ledger()
    .requests({ since: 0 })
    .find((r) => r.id === requestId);
  if (!record) throw new Error(`no ledger record for ${requestId}`);
  expect(record.key).toBe(keyName);
  expect(record).toMatchObject(expected);
  expect(record.upstreamRequestId).toBeTruthy();
  expect(requests().some((r) => r.requestId === record.upstreamRequestId)).toBe(true);
  return record;
}

/** Stream events as they must match whatever answered: ids and measured latencies aside. */
function comparable(events: Record<string, unknown>[]): unknown {
  return JSON.parse(
    JSON.stringify(events, (name, value) => {
      if (name === "id" && typeof value === "string") return "<id>";
      if (name === "invocationLatency" || name === "firstByteLatency") return "<ms>";
      return value;
    }),
  );
}

describe("@aws-sdk/client-bedrock-runtime through the gateway (SigV4 with the key's pair, HTTP/2)", () => {
  it("InvokeModel: the Anthropic message as the body, as the emulator itself answers it", async () => {
    const body = invokeBody({ messages: [{ role: "user", content: "Through the door [[tokens=30]]" }] });
    const output = await invoke(runtime(), SONNET_46_PROFILE, body);
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(output.contentType).toBe("application/json");
    const message = messageOf(output);
    const direct = messageOf(await invoke(runtime("emulator"), SONNET_46_PROFILE, body));
    expect(message.type).toBe("message");
    expect(message.id).toMatch(/^msg_bdrk_/);
    expect(message.usage.output_tokens).toBe(30);
    expect({ ...message, id: "" }).toEqual({ ...direct, id: "" });
    // The gateway's request id, in x-amzn-RequestId, names the ledger record.
    const record = expectLedgered(output.$metadata.requestId, {
      status: 200,
      stream: false,
      inputTokens: message.usage.input_tokens,
      outputTokens: 30,
    });
    // The chain's upstream: the gateway's target (us-west-2) resolved the profile for itself.
    const upstream = requests().find((r) => r.requestId === record.upstreamRequestId)!;
    expect(upstream).toMatchObject({ operation: "InvokeModel", region: "us-west-2", status: 200 });
    expect(upstream.model).toBe(SONNET_46_PROFILE);
  });

  it("InvokeModel: a model id with `:` (encoded %3A by the AWS SDK) and Bedrock's token-count headers", async () => {
    const output = await invoke(runtime(), HAIKU_45_PROFILE);
    const message = messageOf(output);
    expect(message.model).toMatch(/^claude-haiku-4-5/);
    expect(lastRequest().model).toBe(HAIKU_45_PROFILE);
    expectLedgered(output.$metadata.requestId, { modelRequested: HAIKU_45_PROFILE });
    // The same headers reach the raw response (the SDK does not surface them).
    const raw = await signedFetch(harness.gateway.url, {
      path: `/model/${encodeURIComponent(HAIKU_45_PROFILE)}/invoke`,
      body: JSON.stringify(invokeBody()),
      region: REGION,
      credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    });
    expect(raw.status).toBe(200);
    const rawMessage = (await raw.json()) as AnthropicMessage;
    expect(raw.headers.get("x-amzn-bedrock-input-token-count")).toBe(String(rawMessage.usage.input_tokens));
    expect(raw.headers.get("x-amzn-bedrock-output-token-count")).toBe(String(rawMessage.usage.output_tokens));
    expect(raw.headers.get("x-amzn-requestid")).toBe(raw.headers.get("request-id"));
  });

  it("InvokeModelWithResponseStream: the same events as the emulator sends the SDK, and the invoke's text", async () => {
    const body = invokeBody({ messages: [{ role: "user", content: "Stream the door [[tokens=50]]" }] });
    const through = await stream(runtime(), SONNET_46_PROFILE, body);
    expect(through.error).toBeUndefined();
    expect(through.contentType).toBe("application/json");
    const direct = await stream(runtime("emulator"), SONNET_46_PROFILE, body);
    expect(direct.error).toBeUndefined();
    const types = through.events.map((e) => e.type);
    expect(types[0]).toBe("message_start");
    expect(types.at(-1)).toBe("message_stop");
    expect(types).not.toContain("ping");
    expect(comparable(through.events)).toEqual(comparable(direct.events));
    const text = through.events.map((e) => (e.delta as { text?: string } | undefined)?.text ?? "").join("");
    expect(text).toBe(textOf(messageOf(await invoke(runtime(), SONNET_46_PROFILE, body))));
    expectLedgered(through.requestId, { stream: true, status: 200, outputTokens: 50, partial: false });
  });

  it("CountTokens: Bedrock's answer, equal to the input tokens InvokeModel bills", async () => {
    const body = invokeBody({ system: "Be brief.", messages: [{ role: "user", content: "Count me" }] });
    const command = () =>
      new CountTokensCommand({
        modelId: SONNET_46_FOUNDATION,
        input: { invokeModel: { body: encoder.encode(JSON.stringify(body)) } },
      });
    const counted = await runtime().send(command());
    expect(counted.$metadata.httpStatusCode).toBe(200);
    expect(counted.$metadata.requestId).toMatch(/^req_/);
    expect(lastRequest().operation).toBe("CountTokens");
    const direct = await runtime("emulator").send(command());
    expect(counted.inputTokens).toBe(direct.inputTokens);
    const billed = messageOf(await invoke(runtime(), SONNET_46_PROFILE, body));
    expect(counted.inputTokens).toBe(billed.usage.input_tokens);
  });

  describe("typed exceptions", () => {
    it("ThrottlingException from the emulator is the SDK's ThrottlingException, message as Bedrock's", async () => {
      harness.emulator.setFaults({ rules: [{ error: "ThrottlingException", rate: 1 }] });
      const direct = await rejectionOf(invoke(runtime("emulator"), SONNET_46_PROFILE));
      const error = await rejectionOf(invoke(runtime(), SONNET_46_PROFILE));
      expect(error).toBeInstanceOf(ThrottlingException);
      expect(error.name).toBe("ThrottlingException");
      expect(error.$metadata?.httpStatusCode).toBe(429);
      expect(error.message).toBe(direct.message);
      expectLedgered(error.$metadata?.requestId as string, { status: 429, errorName: "ThrottlingException" });
    });

    it("InternalServerException and ServiceUnavailableException keep their names", async () => {
      harness.emulator.setFaults({ rules: [{ error: "InternalServerException", rate: 1 }] });
      const internal = await rejectionOf(invoke(runtime(), SONNET_46_PROFILE));
      expect(internal).toBeInstanceOf(InternalServerException);
      expect(internal.$metadata?.httpStatusCode).toBe(500);
      harness.emulator.setFaults({ rules: [{ error: "ServiceUnavailableException", rate: 1 }] });
      const unavailable = await rejectionOf(invoke(runtime(), SONNET_46_PROFILE));
      expect(unavailable).toBeInstanceOf(ServiceUnavailableException);
      expect(unavailable.$metadata?.httpStatusCode).toBe(503);
    });

    it("ValidationException: a body Bedrock refuses (max_tokens above the model's limit)", async () => {
      const error = await rejectionOf(
        invoke(runtime(), SONNET_46_PROFILE, invokeBody({ max_tokens: 100_000 })),
      );
      expect(error).toBeInstanceOf(ValidationException);
      expect(error.$metadata?.httpStatusCode).toBe(400);
      expect(error.message).toContain("max_tokens");
    });

    it("ValidationException: a body that is not JSON, refused by the gateway before anything goes upstream", async () => {
      const before = requests().length;
      const error = await rejectionOf(
        runtime().send(
          new InvokeModelCommand({
            modelId: SONNET_46_PROFILE,
            body: encoder.encode("{not json"),
            contentType: "application/json",
          }),
        ),
      );
      expect(error).toBeInstanceOf(ValidationException);
      expect(error.message).toBe("Malformed input request, please reformat your input and try again.");
      expect(error.$metadata?.requestId).toMatch(/^req_/);
      expect(requests().length).toBe(before);
    });

    it("AccessDeniedException: a model the key may not use; the models it may use still answer", async () => {
      const pair = { accessKeyId: haikuOnly.accessKeyId, secretAccessKey: haikuOnly.secretAccessKey };
      const before = requests().length;
      const error = await rejectionOf(invoke(runtime("gateway", pair), SONNET_46_PROFILE));
      expect(error).toBeInstanceOf(AccessDeniedException);
      expect(error.$metadata?.httpStatusCode).toBe(403);
      expect(error.message).toContain('Key "haiku-only" may not use model');
      expect(requests().length).toBe(before);
      const allowed = await invoke(runtime("gateway", pair), HAIKU_45_PROFILE);
      expectLedgered(allowed.$metadata.requestId, { status: 200 }, "haiku-only");
      const streamed = await rejectionOf(
        runtime("gateway", pair).send(
          new InvokeModelWithResponseStreamCommand({
            modelId: SONNET_46_PROFILE,
            body: encoder.encode(JSON.stringify(invokeBody())),
          }),
        ),
      );
      expect(streamed).toBeInstanceOf(AccessDeniedException);
    });

    it("a wrong secret is the SDK's InvalidSignatureException; an unknown key id is refused in AWS's words", async () => {
      const before = requests().length;
      const wrong = await rejectionOf(
        invoke(
          runtime("gateway", { accessKeyId: key.accessKeyId, secretAccessKey: "not-the-secret" }),
          SONNET_46_PROFILE,
        ),
      );
      expect(wrong.name).toBe("InvalidSignatureException");
      expect(wrong.$metadata?.httpStatusCode).toBe(403);
      expect(wrong.message).toContain("signature");
      const unknown = await rejectionOf(
        invoke(
          runtime("gateway", { accessKeyId: "BCKANOSUCHKEY0000000", secretAccessKey: "whatever" }),
          SONNET_46_PROFILE,
        ),
      );
      // AWS's words and name for an access key nobody issued.
      expect(unknown.name).toBe("UnrecognizedClientException");
      expect(unknown.message).toBe("The security token included in the request is invalid.");
      expect(unknown.$metadata?.httpStatusCode).toBe(403);
      expect(requests().length).toBe(before);
    });

    it("ModelStreamErrorException mid-stream is the SDK's typed stream exception, after the first events", async () => {
      const body = invokeBody({ messages: [{ role: "user", content: "Break the door [[tokens=60]]" }] });
      harness.emulator.setFaults({
        rules: [{ error: "ModelStreamErrorException", rate: 1, afterEvents: 4 }],
      });
      const direct = await stream(runtime("emulator"), SONNET_46_PROFILE, body);
      const through = await stream(runtime(), SONNET_46_PROFILE, body);
      expect(through.error).toBeInstanceOf(ModelStreamErrorException);
      expect(through.error?.name).toBe("ModelStreamErrorException");
      expect(through.error?.message).toBe(direct.error?.message);
      expect(through.events.length).toBe(4);
      expect(comparable(through.events)).toEqual(comparable(direct.events));
      expect(lastRequest().errorName).toBe("ModelStreamErrorException");
      await vi.waitFor(() => expectLedgered(through.requestId, { stream: true, partial: true }));
    });
  });
});

describe("@anthropic-ai/bedrock-sdk through the gateway", () => {
  const request = (model: string, content = "Hello through the Bedrock door [[tokens=25]]") => ({
    model,
    max_tokens: 256,
    messages: [{ role: "user" as const, content }],
  });

  const CLIENTS = [
    {
      name: "AnthropicBedrock with the key as a Bedrock API key (Bearer)",
      make: (who = key) =>
        new AnthropicBedrock({
          baseURL: harness.gateway.url,
          awsRegion: REGION,
          apiKey: who.token,
          maxRetries: 0,
        }),
      model: SONNET_46_PROFILE,
      operation: "InvokeModel",
    },
    {
      name: "AnthropicBedrock signing with the key's pair (SigV4)",
      make: (who = key) =>
        new AnthropicBedrock({
          baseURL: harness.gateway.url,
          awsRegion: REGION,
          awsAccessKey: who.accessKeyId,
          awsSecretKey: who.secretAccessKey,
          apiKey: null,
          maxRetries: 0,
        }),
      model: HAIKU_45_PROFILE,
      operation: "InvokeModel",
    },
    {
      name: "AnthropicBedrockMantle (native /anthropic/v1/messages) with Bearer",
      make: (who = key) =>
        new AnthropicBedrockMantle({
          baseURL: `${harness.gateway.url}/anthropic`,
          awsRegion: REGION,
          apiKey: who.token,
          maxRetries: 0,
        }),
      model: "claude-sonnet-4-6",
      operation: "InvokeModel",
    },
    {
      name: "AnthropicBedrockMantle signing with the key's pair (SigV4, bedrock-mantle)",
      make: (who = key) =>
        new AnthropicBedrockMantle({
          baseURL: `${harness.gateway.url}/anthropic`,
          awsRegion: REGION,
          awsAccessKey: who.accessKeyId,
          awsSecretAccessKey: who.secretAccessKey,
          maxRetries: 0,
        }),
      model: "claude-sonnet-4-6",
      operation: "InvokeModel",
    },
  ];

  describe.each(CLIENTS)("$name", (client) => {
    it("messages.create: the emulator's answer, ledgered under the key", async () => {
      const { data: message, request_id } = await client
        .make()
        .messages.create(request(client.model))
        .withResponse();
      expect(message.type).toBe("message");
      expect(message.stop_reason).toBe("end_turn");
      expect(textOf(message)).toContain('You said: "Hello through the Bedrock door".');
      expect(message.usage.output_tokens).toBe(25);
      expect(lastRequest().operation).toBe(client.operation);
      expectLedgered(request_id, { status: 200, stream: false, outputTokens: 25 });
    });

    it("messages.stream: deltas concatenate to finalMessage(), equal to create()", async () => {
      const params = request(client.model, "Stream through the Bedrock door [[tokens=70]]");
      const created = await client.make().messages.create(params);
      const stream = client.make().messages.stream(params);
      const deltas: string[] = [];
      stream.on("text", (delta) => deltas.push(delta));
      const final = await stream.finalMessage();
      expect(deltas.length).toBeGreaterThan(1);
      expect(deltas.join("")).toBe(textOf(final));
      expect(textOf(final)).toBe(textOf(created));
      expect(final.usage.output_tokens).toBe(70);
      expect(lastRequest().stream).toBe(true);
      expectLedgered(stream.request_id, { stream: true, status: 200, outputTokens: 70 });
    });

    it("a ThrottlingException upstream is the SDK's RateLimitError", async () => {
      harness.emulator.setFaults({ rules: [{ error: "ThrottlingException", rate: 1 }] });
      const error = (await rejectionOf(
        client.make().messages.create(request(client.model)),
      )) as APIErrorInstance;
      expect(error).toBeInstanceOf(RateLimitError);
      expect(error.status).toBe(429);
      expect(lastRequest().errorName).toBe("ThrottlingException");
    });

    it("a model outside the key's allowlist is a PermissionDeniedError", async () => {
      const error = (await rejectionOf(
        client.make(haikuOnly).messages.create(request("claude-sonnet-4-6")),
      )) as APIErrorInstance;
      expect(error).toBeInstanceOf(PermissionDeniedError);
      expect(error.status).toBe(403);
    });
  });

  it("a wrong Bearer token is an AuthenticationError (Anthropic-shaped on the native route)", async () => {
    const error = (await rejectionOf(
      new AnthropicBedrockMantle({
        baseURL: `${harness.gateway.url}/anthropic`,
        awsRegion: REGION,
        apiKey: "bck-NOTAKEY",
        maxRetries: 0,
      }).messages.create(request("claude-sonnet-4-6")),
    )) as APIErrorInstance;
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error.status).toBe(401);
    expect(error.requestID).toMatch(/^req_/);
  });
});
