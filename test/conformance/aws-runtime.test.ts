/**
 * Conformance of the emulator's bedrock-runtime with the official `@aws-sdk/client-bedrock-runtime`:
 * unmodified clients (endpoint and credentials aside) over real HTTP, SigV4-signed, decoding the
 * event stream with the SDK's own parser and raising the SDK's own typed exceptions.
 */
import { readFileSync } from "node:fs";
import {
  AccessDeniedException,
  BedrockRuntimeClient,
  type BedrockRuntimeClientConfig,
  CountTokensCommand,
  InternalServerException,
  InvokeModelCommand,
  type InvokeModelCommandOutput,
  InvokeModelWithResponseStreamCommand,
  ModelNotReadyException,
  ModelStreamErrorException,
  ModelTimeoutException,
  ResourceNotFoundException,
  ServiceUnavailableException,
  ThrottlingException,
  ValidationException,
} from "@aws-sdk/client-bedrock-runtime";
import { afterEach, describe, expect, it } from "vitest";
import type { RequestRecord } from "../../src/emulator/index.js";
import {
  awsClientConfig,
  HAIKU_45_FOUNDATION,
  HAIKU_45_PROFILE,
  invokeBody,
  rejection,
  SONNET_46_FOUNDATION,
  SONNET_46_PROFILE,
  signedFetch,
  TEST_CREDENTIALS,
  useClients,
  useEmulator,
} from "../helpers.js";

interface CatalogModel {
  bedrockModelId: string;
  inRegions: string[];
  requiresInferenceProfile: boolean;
  lifecycle: { endOfLife?: string; endOfLifeScope?: string };
}
const catalog = JSON.parse(readFileSync(new URL("../../data/models.json", import.meta.url), "utf8")) as {
  models: CatalogModel[];
};
function catalogModel(id: string): CatalogModel {
  const model = catalog.models.find((m) => m.bedrockModelId === id);
  if (!model) throw new Error(`${id} is not in data/models.json`);
  return model;
}

const NARROW = { accessKeyId: "AKIANARROWPOLICY0001", secretAccessKey: "narrow-secret-key" };
const NO_ACCESS = { accessKeyId: "AKIANOMODELACCESS001", secretAccessKey: "no-access-secret-key" };
const ACCOUNT = "000000000000";

const emulator = useEmulator({
  config: {
    identities: [
      // The IAM policy covers Haiku 4.5 only.
      { name: "narrow", ...NARROW, allowedModels: ["claude-haiku-4-5*"] },
      // Model access granted for no model at all.
      { name: "no-access", ...NO_ACCESS, modelAccess: [] },
    ],
  },
});

const keep = useClients();
/** An official client pointed at the emulator; `maxAttempts: 1` so error tests see one attempt. */
function runtime(
  region = "us-east-1",
  config: Partial<BedrockRuntimeClientConfig> = {},
): BedrockRuntimeClient {
  return keep(new BedrockRuntimeClient({ ...awsClientConfig(emulator.current.url, { region }), ...config }));
}
afterEach(() => {
  emulator.current.clearFaults();
});

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface AnthropicMessage {
  id: string;
  type: string;
  role: string;
  model: string;
  content: { type: string; text?: string }[];
  stop_reason: string;
  stop_sequence: string | null;
  usage: { input_tokens: number; output_tokens: number; cache_read_input_tokens?: number };
}

function invoke(
  client: BedrockRuntimeClient,
  modelId: string,
  body = invokeBody(),
): Promise<InvokeModelCommandOutput> {
  return client.send(
    new InvokeModelCommand({
      modelId,
      body: encoder.encode(JSON.stringify(body)),
      contentType: "application/json",
      accept: "application/json",
    }),
  );
}

function messageOf(output: InvokeModelCommandOutput): AnthropicMessage {
  return JSON.parse(decoder.decode(output.body)) as AnthropicMessage;
}

function textOf(message: AnthropicMessage): string {
  return message.content.map((block) => block.text ?? "").join("");
}

function recordOf(requestId: string | undefined): RequestRecord {
  expect(requestId).toBeTruthy();
  const record = emulator.current.requests().find((r) => r.requestId === requestId);
  if (!record) throw new Error(`no journal record for request ${requestId}`);
  return record;
}

/** The rejection of a call, or a failure when it succeeds. */
const rejectionOf = (call: Promise<unknown>) =>
  rejection<Error & { $metadata: { httpStatusCode?: number; attempts?: number } }>(call);

interface StreamEventJson {
  type: string;
  index?: number;
  message?: { usage: { input_tokens: number; output_tokens: number } };
  delta?: { type?: string; text?: string; stop_reason?: string };
  usage?: { output_tokens: number };
  "amazon-bedrock-invocationMetrics"?: {
    inputTokenCount: number;
    outputTokenCount: number;
    invocationLatency: number;
    firstByteLatency: number;
  };
}

interface StreamResult {
  events: StreamEventJson[];
  requestId: string | undefined;
  contentType: string | undefined;
  /** What the SDK threw while iterating, if anything. */
  error?: Error & Record<string, unknown>;
}

/** Sends InvokeModelWithResponseStream and iterates the body with the SDK's own decoder. */
async function stream(
  client: BedrockRuntimeClient,
  modelId: string,
  body = invokeBody(),
): Promise<StreamResult> {
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
      result.events.push(JSON.parse(decoder.decode(part.chunk.bytes)) as StreamEventJson);
    }
  } catch (error) {
    result.error = error as Error & Record<string, unknown>;
  }
  return result;
}

const EMULATOR_ANSWER = (model: string, said: string) =>
  `This is the bedrock-claude emulator answering as ${model}. You said: "${said}".`;

describe("InvokeModel with the official client", () => {
  it("answers a system inference profile id with the Anthropic Message JSON", async () => {
    const output = await invoke(runtime(), SONNET_46_PROFILE);
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(output.contentType).toBe("application/json");
    const message = messageOf(output);
    expect(message.id).toMatch(/^msg_bdrk_/);
    expect(message).toMatchObject({
      type: "message",
      role: "assistant",
      model: "claude-sonnet-4-6",
      stop_reason: "end_turn",
      stop_sequence: null,
    });
    expect(message.content).toEqual([{ type: "text", text: EMULATOR_ANSWER("claude-sonnet-4-6", "Hello") }]);
    expect(message.usage.input_tokens).toBeGreaterThan(0);
    expect(message.usage.output_tokens).toBeGreaterThan(0);

    const record = recordOf(output.$metadata.requestId);
    expect(record).toMatchObject({
      api: "bedrock-runtime",
      operation: "InvokeModel",
      region: "us-east-1",
      model: SONNET_46_PROFILE,
      foundationModel: SONNET_46_FOUNDATION,
      identity: "test",
      status: 200,
      outcome: "completed",
      stream: false,
      inputTokens: message.usage.input_tokens,
      outputTokens: message.usage.output_tokens,
    });
    const totals = emulator.current
      .usage()
      .find((u) => u.api === "bedrock-runtime" && u.region === "us-east-1" && u.model === SONNET_46_PROFILE);
    expect(totals?.foundationModel).toBe(SONNET_46_FOUNDATION);
    expect(totals?.outputTokens).toBeGreaterThanOrEqual(message.usage.output_tokens);
  });

  it("answers an in-region foundation id where the catalog allows on-demand use (Sonnet 4.6 in eu-west-2)", async () => {
    expect(catalogModel(SONNET_46_FOUNDATION).inRegions).toContain("eu-west-2");
    const output = await invoke(runtime("eu-west-2"), SONNET_46_FOUNDATION);
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(textOf(messageOf(output))).toBe(EMULATOR_ANSWER("claude-sonnet-4-6", "Hello"));
    expect(recordOf(output.$metadata.requestId)).toMatchObject({
      region: "eu-west-2",
      model: SONNET_46_FOUNDATION,
      foundationModel: SONNET_46_FOUNDATION,
      status: 200,
    });
  });

  it("accepts an inference-profile ARN, which the SDK sends with : as %3A and / as %2F", async () => {
    const client = runtime();
    // Observes the request the SDK serialised; changes nothing.
    const paths: string[] = [];
    client.middlewareStack.add(
      (next) => async (args) => {
        paths.push((args.request as { path: string }).path);
        return next(args);
      },
      { step: "build", name: "observeConformancePath" },
    );
    const arn = `arn:aws:bedrock:us-east-1:${ACCOUNT}:inference-profile/${HAIKU_45_PROFILE}`;
    const output = await invoke(client, arn);
    expect(paths).toEqual([
      "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A000000000000%3Ainference-profile%2Fus.anthropic.claude-haiku-4-5-20251001-v1%3A0/invoke",
    ]);
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(messageOf(output).model).toBe("claude-haiku-4-5-20251001");
    expect(recordOf(output.$metadata.requestId)).toMatchObject({
      model: arn,
      foundationModel: HAIKU_45_FOUNDATION,
      status: 200,
    });
  });

  it("accepts a foundation-model ARN where the model is on demand, and refuses one that needs a profile", async () => {
    const arn = `arn:aws:bedrock:eu-west-2::foundation-model/${SONNET_46_FOUNDATION}`;
    const output = await invoke(runtime("eu-west-2"), arn);
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(recordOf(output.$metadata.requestId)).toMatchObject({
      model: arn,
      foundationModel: SONNET_46_FOUNDATION,
    });

    const error = await rejectionOf(
      invoke(runtime(), `arn:aws:bedrock:us-east-1::foundation-model/${HAIKU_45_FOUNDATION}`),
    );
    expect(error).toBeInstanceOf(ValidationException);
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toBe(
      `Invocation of model ID ${HAIKU_45_FOUNDATION} with on-demand throughput isn\u2019t supported. Retry your request with the ID or ARN of an inference profile that contains this model.`,
    );
  });

  it("puts the token counts in the X-Amzn-Bedrock-* headers, equal to the body's usage and the journal", async () => {
    const body = JSON.stringify(
      invokeBody({ max_tokens: 512, messages: [{ role: "user", content: "Count my tokens [[tokens=40]]" }] }),
    );
    const response = await signedFetch(emulator.current.url, {
      path: `/model/${encodeURIComponent(SONNET_46_PROFILE)}/invoke`,
      body,
      headers: { accept: "application/json" },
    });
    expect(response.status).toBe(200);
    const message = (await response.json()) as AnthropicMessage;
    const requestId = response.headers.get("x-amzn-requestid") ?? undefined;
    expect(response.headers.get("x-amzn-bedrock-input-token-count")).toBe(String(message.usage.input_tokens));
    expect(response.headers.get("x-amzn-bedrock-output-token-count")).toBe(
      String(message.usage.output_tokens),
    );
    expect(message.usage.output_tokens).toBeGreaterThanOrEqual(40);
    expect(response.headers.get("x-amzn-bedrock-invocation-latency")).toMatch(/^\d+$/);
    expect(recordOf(requestId)).toMatchObject({
      inputTokens: message.usage.input_tokens,
      outputTokens: message.usage.output_tokens,
    });

    // The official client, same request: the same usage in the body it hands back.
    const viaSdk = messageOf(await invoke(runtime(), SONNET_46_PROFILE, JSON.parse(body)));
    expect(viaSdk.usage).toEqual(message.usage);
  });
});

describe("InvokeModelWithResponseStream decoded by the SDK's event-stream parser", () => {
  const padded = invokeBody({
    max_tokens: 512,
    messages: [{ role: "user", content: "Stream this [[tokens=60]]" }],
  });

  it("delivers every event type of the Messages stream, in order", async () => {
    const result = await stream(runtime(), SONNET_46_PROFILE, padded);
    expect(result.error).toBeUndefined();
    expect(result.contentType).toBe("application/json");
    const types = result.events.map((e) => e.type).join(",");
    expect(types).toMatch(
      /^message_start,content_block_start,(content_block_delta,){2,}content_block_stop,message_delta,message_stop$/,
    );
    expect(
      result.events
        .filter((e) => e.type === "content_block_delta")
        .every((e) => e.delta?.type === "text_delta"),
    ).toBe(true);
    expect(result.events.find((e) => e.type === "message_delta")?.delta?.stop_reason).toBe("end_turn");
    expect(recordOf(result.requestId)).toMatchObject({
      operation: "InvokeModelWithResponseStream",
      stream: true,
      status: 200,
      outcome: "completed",
    });
  });

  it("streams text deltas that concatenate to the non-streamed text of the same request", async () => {
    const client = runtime();
    const streamed = await stream(client, SONNET_46_PROFILE, padded);
    const whole = messageOf(await invoke(client, SONNET_46_PROFILE, padded));
    const text = streamed.events
      .filter((e) => e.type === "content_block_delta")
      .map((e) => e.delta?.text ?? "")
      .join("");
    expect(text.length).toBeGreaterThan(0);
    expect(text).toBe(textOf(whole));
  });

  it("puts amazon-bedrock-invocationMetrics on the last chunk only, agreeing with message_start and message_delta", async () => {
    const result = await stream(runtime(), SONNET_46_PROFILE, padded);
    const last = result.events.at(-1)!;
    expect(last.type).toBe("message_stop");
    const metrics = last["amazon-bedrock-invocationMetrics"];
    expect(metrics).toBeDefined();
    expect(result.events.slice(0, -1).some((e) => "amazon-bedrock-invocationMetrics" in e)).toBe(false);
    const delta = result.events.find((e) => e.type === "message_delta")!;
    const start = result.events.find((e) => e.type === "message_start")!;
    expect(metrics!.outputTokenCount).toBe(delta.usage!.output_tokens);
    expect(metrics!.outputTokenCount).toBeGreaterThanOrEqual(60);
    expect(metrics!.inputTokenCount).toBe(start.message!.usage.input_tokens);
    expect(metrics!.invocationLatency).toBeGreaterThanOrEqual(0);
    expect(metrics!.firstByteLatency).toBeGreaterThanOrEqual(0);
    expect(recordOf(result.requestId)).toMatchObject({
      inputTokens: metrics!.inputTokenCount,
      outputTokens: metrics!.outputTokenCount,
    });
  });
});

describe("CountTokens", () => {
  const body = invokeBody({
    system: "Be brief.",
    messages: [{ role: "user", content: "How many tokens is this?" }],
  });

  it("counts the tokens of an InvokeModel body for a foundation id, as InvokeModel bills them", async () => {
    const client = runtime();
    const counted = await client.send(
      new CountTokensCommand({
        modelId: SONNET_46_FOUNDATION,
        input: { invokeModel: { body: encoder.encode(JSON.stringify(body)) } },
      }),
    );
    expect(counted.$metadata.httpStatusCode).toBe(200);
    expect(counted.inputTokens).toBeGreaterThan(0);
    const billed = messageOf(await invoke(client, SONNET_46_PROFILE, body));
    expect(counted.inputTokens).toBe(billed.usage.input_tokens);
  });

  it("refuses an inference profile id with ValidationException", async () => {
    const error = await rejectionOf(
      runtime().send(
        new CountTokensCommand({
          modelId: SONNET_46_PROFILE,
          input: { invokeModel: { body: encoder.encode(JSON.stringify(body)) } },
        }),
      ),
    );
    expect(error).toBeInstanceOf(ValidationException);
    expect(error.name).toBe("ValidationException");
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toBe("The provided model doesn't support counting tokens.");
  });
});

describe("the region is the one in the SigV4 credential scope", () => {
  const EU_PROFILE = "eu.anthropic.claude-sonnet-4-6";

  it("serves an eu. profile to a client in eu-west-1 and calls it invalid from us-east-1, on one emulator", async () => {
    const output = await invoke(runtime("eu-west-1"), EU_PROFILE);
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(recordOf(output.$metadata.requestId)).toMatchObject({
      region: "eu-west-1",
      model: EU_PROFILE,
      foundationModel: SONNET_46_FOUNDATION,
    });

    const error = await rejectionOf(invoke(runtime("us-east-1"), EU_PROFILE));
    expect(error).toBeInstanceOf(ValidationException);
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toBe("The provided model identifier is invalid.");
  });
});

describe("typed exceptions", () => {
  it("ValidationException for a model id that does not exist", async () => {
    const error = await rejectionOf(invoke(runtime(), "anthropic.claude-does-not-exist-v1:0"));
    expect(error).toBeInstanceOf(ValidationException);
    expect(error.name).toBe("ValidationException");
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toBe("The provided model identifier is invalid.");
  });

  it("ValidationException with the typographic apostrophe for an on-demand foundation id that needs a profile", async () => {
    expect(catalogModel(SONNET_46_FOUNDATION).inRegions).not.toContain("us-east-1");
    const error = await rejectionOf(invoke(runtime("us-east-1"), SONNET_46_FOUNDATION));
    expect(error).toBeInstanceOf(ValidationException);
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toBe(
      `Invocation of model ID ${SONNET_46_FOUNDATION} with on-demand throughput isn\u2019t supported. Retry your request with the ID or ARN of an inference profile that contains this model.`,
    );
    expect(error.message).not.toContain("isn't");
  });

  it("AccessDeniedException when the identity's policy does not cover the model", async () => {
    const client = runtime("us-east-1", { credentials: NARROW });
    // The policy covers Haiku 4.5: the same identity may invoke it.
    const allowed = await invoke(client, HAIKU_45_PROFILE);
    expect(allowed.$metadata.httpStatusCode).toBe(200);

    const error = await rejectionOf(invoke(client, SONNET_46_PROFILE));
    expect(error).toBeInstanceOf(AccessDeniedException);
    expect(error.name).toBe("AccessDeniedException");
    expect(error.$metadata.httpStatusCode).toBe(403);
    expect(error.message).toBe(
      `User: arn:aws:iam::${ACCOUNT}:user/narrow is not authorized to perform: bedrock:InvokeModel on resource: arn:aws:bedrock:us-east-1:${ACCOUNT}:inference-profile/${SONNET_46_PROFILE} because no identity-based policy allows the bedrock:InvokeModel action`,
    );
  });

  it("AccessDeniedException on the stream operation names bedrock:InvokeModelWithResponseStream", async () => {
    const error = await rejectionOf(stream(runtime("us-east-1", { credentials: NARROW }), SONNET_46_PROFILE));
    expect(error).toBeInstanceOf(AccessDeniedException);
    expect(error.$metadata.httpStatusCode).toBe(403);
    expect(error.message).toBe(
      `User: arn:aws:iam::${ACCOUNT}:user/narrow is not authorized to perform: bedrock:InvokeModelWithResponseStream on resource: arn:aws:bedrock:us-east-1:${ACCOUNT}:inference-profile/${SONNET_46_PROFILE} because no identity-based policy allows the bedrock:InvokeModelWithResponseStream action`,
    );
  });

  it("AccessDeniedException when model access has not been granted", async () => {
    const error = await rejectionOf(
      invoke(runtime("us-east-1", { credentials: NO_ACCESS }), SONNET_46_PROFILE),
    );
    expect(error).toBeInstanceOf(AccessDeniedException);
    expect(error.$metadata.httpStatusCode).toBe(403);
    expect(error.message).toBe("You don't have access to the model with the specified model ID.");
  });

  it("ResourceNotFoundException for a model past its Bedrock end of life (Claude 3.5 Haiku)", async () => {
    const haiku35 = catalogModel("anthropic.claude-3-5-haiku-20241022-v1:0");
    expect(haiku35.lifecycle.endOfLifeScope).toBe("bedrock");
    expect(Date.parse(haiku35.lifecycle.endOfLife!)).toBeLessThan(Date.now());
    const error = await rejectionOf(invoke(runtime(), "us.anthropic.claude-3-5-haiku-20241022-v1:0"));
    expect(error).toBeInstanceOf(ResourceNotFoundException);
    expect(error.name).toBe("ResourceNotFoundException");
    expect(error.$metadata.httpStatusCode).toBe(404);
    expect(error.message.length).toBeGreaterThan(0);
  });

  const injected = [
    {
      error: "ThrottlingException",
      type: ThrottlingException,
      status: 429,
      message: "Too many requests, please wait before trying again.",
    },
    {
      error: "ServiceUnavailableException",
      type: ServiceUnavailableException,
      status: 503,
      message: "Bedrock is unable to process your request.",
    },
    { error: "ModelNotReadyException", type: ModelNotReadyException, status: 429, message: undefined },
    {
      error: "InternalServerException",
      type: InternalServerException,
      status: 500,
      message: "The system encountered an unexpected error during processing. Try your request again.",
    },
    {
      error: "ModelTimeoutException",
      type: ModelTimeoutException,
      status: 408,
      message: "Model has timed out in processing the request. Try your request again.",
    },
  ] as const;

  it.each(injected)(
    "$error ($status) from an injected fault",
    async ({ error: name, type, status, message }) => {
      emulator.current.setFaults({ rules: [{ error: name, rate: 1 }] });
      const error = await rejectionOf(invoke(runtime(), SONNET_46_PROFILE));
      expect(error).toBeInstanceOf(type);
      expect(error.name).toBe(name);
      expect(error.$metadata.httpStatusCode).toBe(status);
      expect(error.$metadata.attempts).toBe(1);
      if (message !== undefined) expect(error.message).toBe(message);
      else expect(error.message.length).toBeGreaterThan(0);
      const requestId = (error.$metadata as { requestId?: string }).requestId;
      expect(recordOf(requestId)).toMatchObject({
        status,
        errorName: name,
        outcome: "error",
        outputTokens: 0,
      });
    },
  );

  it("ThrottlingException before the first event of a stream, thrown by send()", async () => {
    emulator.current.setFaults({ rules: [{ error: "ThrottlingException", rate: 1 }] });
    const error = await rejectionOf(stream(runtime(), SONNET_46_PROFILE));
    expect(error).toBeInstanceOf(ThrottlingException);
    expect(error.$metadata.httpStatusCode).toBe(429);
  });

  it("the SDK's own retry gets through when a seeded fault rate of 0.5 hits the first attempt", async () => {
    // Seed 8 draws 0.156 then 0.625: the first attempt is throttled, the retry is not.
    emulator.current.setFaults({ seed: 8, rules: [{ error: "ThrottlingException", rate: 0.5 }] });
    emulator.current.resetJournal();
    const client = keep(
      new BedrockRuntimeClient({
        region: "us-east-1",
        endpoint: emulator.current.url,
        credentials: TEST_CREDENTIALS,
      }),
    );
    const output = await invoke(client, SONNET_46_PROFILE);
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(output.$metadata.attempts).toBe(2);
    expect(textOf(messageOf(output))).toBe(EMULATOR_ANSWER("claude-sonnet-4-6", "Hello"));
    const attempts = emulator.current.requests().filter((r) => r.operation === "InvokeModel");
    expect(attempts.map((r) => [r.status, r.errorName])).toEqual([
      [429, "ThrottlingException"],
      [200, null],
    ]);
  });
});

describe("exceptions inside the event stream", () => {
  const padded = invokeBody({
    max_tokens: 512,
    messages: [{ role: "user", content: "Stream this [[tokens=60]]" }],
  });

  it("modelStreamErrorException after 3 events surfaces as the SDK's ModelStreamErrorException", async () => {
    emulator.current.setFaults({ rules: [{ error: "ModelStreamErrorException", rate: 1, afterEvents: 3 }] });
    const result = await stream(runtime(), SONNET_46_PROFILE, padded);
    expect(result.events.map((e) => e.type)).toEqual([
      "message_start",
      "content_block_start",
      "content_block_delta",
    ]);
    const error = result.error!;
    expect(error).toBeInstanceOf(ModelStreamErrorException);
    expect(error.name).toBe("ModelStreamErrorException");
    expect(error.message).toBe(
      "The system encountered an unexpected error during processing. Try your request again.",
    );
    expect((error as unknown as ModelStreamErrorException).originalStatusCode).toBe(500);
    expect(typeof (error as unknown as ModelStreamErrorException).originalMessage).toBe("string");
    expect(recordOf(result.requestId)).toMatchObject({
      status: 200,
      outcome: "error",
      errorName: "ModelStreamErrorException",
    });
  });

  it("throttlingException after 2 events surfaces as the SDK's ThrottlingException", async () => {
    emulator.current.setFaults({ rules: [{ error: "ThrottlingException", rate: 1, afterEvents: 2 }] });
    const result = await stream(runtime(), SONNET_46_PROFILE, padded);
    expect(result.events.map((e) => e.type)).toEqual(["message_start", "content_block_start"]);
    const error = result.error!;
    expect(error).toBeInstanceOf(ThrottlingException);
    expect(error.name).toBe("ThrottlingException");
    expect(error.message).toBe("Too many requests, please wait before trying again.");
    expect(recordOf(result.requestId)).toMatchObject({ outcome: "error", errorName: "ThrottlingException" });
  });
});
