/**
 * Conformance of the emulator's Converse and ConverseStream with the official
 * `@aws-sdk/client-bedrock-runtime`: unmodified clients (endpoint and credentials aside) over real
 * HTTP, typed responses, typed stream events and the SDK's own exception classes.
 */
import {
  AccessDeniedException,
  BedrockRuntimeClient,
  type ContentBlock,
  ConverseCommand,
  type ConverseCommandInput,
  type ConverseCommandOutput,
  ConverseStreamCommand,
  type ConverseStreamCommandInput,
  type ConverseStreamOutput,
  type Message,
  ModelStreamErrorException,
  ThrottlingException,
  type TokenUsage,
  ValidationException,
} from "@aws-sdk/client-bedrock-runtime";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RequestRecord } from "../src/emulator/index.js";
import {
  type AwsCredentials,
  awsClientConfig,
  HAIKU_45_PROFILE,
  rejection,
  SONNET_46_PROFILE,
  TEST_CREDENTIALS,
  useClients,
  useEmulator,
} from "./helpers.js";

const READER = { accessKeyId: "AKIACONVERSEREADER01", secretAccessKey: "reader-secret-key" };
const INVOKE_ONLY = { accessKeyId: "AKIACONVERSEINVOKE01", secretAccessKey: "invoke-secret-key" };
const ACCOUNT = "000000000000";

const emulator = useEmulator({
  config: {
    identities: [
      // May list and read models, not invoke them.
      { name: "reader", ...READER, allowedActions: ["bedrock:List*", "bedrock:Get*"] },
      // May invoke, not stream.
      { name: "invoke-only", ...INVOKE_ONLY, allowedActions: ["bedrock:InvokeModel"] },
    ],
  },
});

const keep = useClients();
function runtime(credentials: AwsCredentials = TEST_CREDENTIALS) {
  return keep(new BedrockRuntimeClient(awsClientConfig(emulator.current.url, { credentials })));
}
beforeEach(() => {
  emulator.current.resetJournal();
});
afterEach(() => {
  emulator.current.clearFaults();
});

function user(text: string): Message {
  return { role: "user", content: [{ text }] };
}

function converse(input: Partial<ConverseCommandInput>, client = runtime()): Promise<ConverseCommandOutput> {
  return client.send(
    new ConverseCommand({ modelId: SONNET_46_PROFILE, messages: [user("Hello")], ...input }),
  );
}

interface StreamResult {
  events: ConverseStreamOutput[];
  requestId: string | undefined;
}

async function converseStream(
  input: Partial<ConverseStreamCommandInput>,
  client = runtime(),
): Promise<StreamResult> {
  const output = await client.send(
    new ConverseStreamCommand({ modelId: SONNET_46_PROFILE, messages: [user("Hello")], ...input }),
  );
  const events: ConverseStreamOutput[] = [];
  for await (const event of output.stream ?? []) events.push(event);
  return { events, requestId: output.$metadata.requestId };
}

/** The text a stream delivered, from its contentBlockDelta events. */
function streamedText(events: ConverseStreamOutput[]): string {
  return events.map((e) => e.contentBlockDelta?.delta?.text ?? "").join("");
}

function textOf(content: ContentBlock[] | undefined): string {
  return (content ?? []).map((b) => b.text ?? "").join("");
}

function recordOf(requestId: string | undefined): RequestRecord {
  expect(requestId).toBeTruthy();
  const record = emulator.current.requests().find((r) => r.requestId === requestId);
  if (!record) throw new Error(`no journal record for request ${requestId}`);
  return record;
}

/** The rejection of a call, or a failure when it succeeds. */
const rejectionOf = (call: Promise<unknown>) =>
  rejection<Error & { $metadata?: { httpStatusCode?: number } }>(call);

describe("Converse", () => {
  it("answers the deterministic text with Converse's shape: output.message, stopReason, usage, metrics", async () => {
    const out = await converse({
      system: [{ text: "Be brief." }],
      messages: [user("What is Bedrock?")],
      inferenceConfig: { maxTokens: 200, temperature: 0.5 },
    });
    expect(out.output?.message?.role).toBe("assistant");
    expect(textOf(out.output?.message?.content)).toBe(
      'This is the bedrock-claude emulator answering as claude-sonnet-4-6. System prompt: "Be brief.". You said: "What is Bedrock?".',
    );
    expect(out.stopReason).toBe("end_turn");
    const usage = out.usage!;
    expect(usage.inputTokens).toBeGreaterThan(0);
    expect(usage.outputTokens).toBeGreaterThan(0);
    expect(usage.cacheReadInputTokens).toBe(0);
    expect(usage.cacheWriteInputTokens).toBe(0);
    expect(usage.totalTokens).toBe(usage.inputTokens! + usage.outputTokens!);
    expect(typeof out.metrics?.latencyMs).toBe("number");
    const record = recordOf(out.$metadata.requestId);
    expect(record).toMatchObject({
      api: "bedrock-runtime",
      operation: "Converse",
      stream: false,
      status: 200,
      outcome: "completed",
      model: SONNET_46_PROFILE,
      foundationModel: "anthropic.claude-sonnet-4-6",
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
    });
  });

  it("counts the same input tokens as InvokeModel for the same conversation (one core)", async () => {
    const a = await converse({ messages: [user("Count me, please.")], inferenceConfig: { maxTokens: 64 } });
    const b = await converse({
      messages: [
        user("Count me, please."),
        { role: "assistant", content: [{ text: "Counted." }] },
        user("Again"),
      ],
    });
    // Two more messages: their text and 3 tokens each.
    expect(b.usage!.inputTokens! - a.usage!.inputTokens!).toBeGreaterThan(6);
  });

  it("a tool call round trip: toolUse with stopReason tool_use, then a toolResult answered", async () => {
    const toolConfig = {
      tools: [
        {
          toolSpec: {
            name: "get_weather",
            description: "Weather for a city",
            inputSchema: {
              json: {
                type: "object",
                properties: { city: { type: "string" }, days: { type: "integer" } },
                required: ["city"],
              },
            },
          },
        },
      ],
    };
    const question = user("Use get_weather for city=Paris");
    const first = await converse({ messages: [question], toolConfig });
    expect(first.stopReason).toBe("tool_use");
    const content = first.output!.message!.content!;
    const toolUse = content.find((b) => b.toolUse)?.toolUse;
    expect(toolUse?.name).toBe("get_weather");
    expect(toolUse?.input).toEqual({ city: "Paris" });
    expect(toolUse?.toolUseId).toMatch(/^toolu_bdrk_01/);

    const second = await converse({
      toolConfig,
      messages: [
        question,
        first.output!.message!,
        {
          role: "user",
          content: [{ toolResult: { toolUseId: toolUse!.toolUseId, content: [{ json: { tempC: 21 } }] } }],
        },
      ],
    });
    expect(second.stopReason).toBe("end_turn");
    expect(textOf(second.output?.message?.content)).toBe('Tool get_weather returned: "{"tempC":21}".');
  });

  it("toolChoice tool forces the named tool without text", async () => {
    const out = await converse({
      messages: [user("Anything")],
      toolConfig: {
        tools: [
          { toolSpec: { name: "first", inputSchema: { json: { type: "object", properties: {} } } } },
          {
            toolSpec: {
              name: "second",
              inputSchema: { json: { type: "object", properties: { flag: { type: "boolean" } } } },
            },
          },
        ],
        toolChoice: { tool: { name: "second" } },
      },
    });
    expect(out.stopReason).toBe("tool_use");
    expect(out.output!.message!.content).toHaveLength(1);
    expect(out.output!.message!.content![0]!.toolUse).toMatchObject({
      name: "second",
      input: { flag: true },
    });
  });

  it("thinking through additionalModelRequestFields answers reasoningContent with a signature first", async () => {
    const out = await converse({
      messages: [user("Think first")],
      inferenceConfig: { maxTokens: 4096 },
      additionalModelRequestFields: { thinking: { type: "enabled", budget_tokens: 1024 } },
    });
    const [reasoning, text] = out.output!.message!.content!;
    expect(reasoning?.reasoningContent?.reasoningText?.text).toContain('The user asks: "Think first"');
    expect(reasoning?.reasoningContent?.reasoningText?.signature).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(text?.text).toContain('You said: "Think first"');
  });

  it("stopSequences cut the text: stopReason stop_sequence", async () => {
    const out = await converse({
      messages: [user("Hello")],
      inferenceConfig: { stopSequences: ["emulator"] },
    });
    expect(out.stopReason).toBe("stop_sequence");
    expect(textOf(out.output?.message?.content)).toBe("This is the bedrock-claude ");
  });

  it("maxTokens cuts the answer: stopReason max_tokens, outputTokens equal to maxTokens", async () => {
    const out = await converse({ messages: [user("Hello there")], inferenceConfig: { maxTokens: 5 } });
    expect(out.stopReason).toBe("max_tokens");
    expect(out.usage?.outputTokens).toBe(5);
    // Tokens are optional white space plus up to six characters: "This", " is", " the", " bedroc", "k-clau".
    expect(textOf(out.output?.message?.content)).toBe("This is the bedrock-clau");
  });

  it("prompt caching with cachePoint: the first call writes the cache, the second reads it", async () => {
    const long = Array.from({ length: 1500 }, (_, i) => `rule${i}`).join(" ");
    const input: Partial<ConverseCommandInput> = {
      system: [{ text: long }, { cachePoint: { type: "default" } }],
      messages: [user("Cached question")],
    };
    const first = await converse(input);
    expect(first.usage!.cacheWriteInputTokens).toBeGreaterThanOrEqual(1500);
    expect(first.usage!.cacheReadInputTokens).toBe(0);
    const second = await converse(input);
    expect(second.usage!.cacheReadInputTokens).toBe(first.usage!.cacheWriteInputTokens);
    expect(second.usage!.cacheWriteInputTokens).toBe(0);
    expect(second.usage!.inputTokens).toBe(first.usage!.inputTokens);
    const u = second.usage!;
    expect(u.totalTokens).toBe(u.inputTokens! + u.outputTokens! + u.cacheReadInputTokens!);
  });

  it("images, documents and requestMetadata are accepted; an image costs input tokens", async () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const plain = await converse({ messages: [user("Describe")] });
    const out = await converse({
      messages: [
        {
          role: "user",
          content: [
            { image: { format: "png", source: { bytes: png } } },
            {
              document: {
                format: "txt",
                name: "notes",
                source: { bytes: new TextEncoder().encode("a b c") },
              },
            },
            { text: "Describe" },
          ],
        },
      ],
      requestMetadata: { team: "search" },
    });
    expect(out.stopReason).toBe("end_turn");
    expect(out.usage!.inputTokens! - plain.usage!.inputTokens!).toBeGreaterThanOrEqual(1600);
  });
});

describe("Converse errors", () => {
  it("a conversation starting with the assistant: ValidationException in Converse's words", async () => {
    const error = await rejectionOf(
      converse({ messages: [{ role: "assistant", content: [{ text: "Hi" }] }] }),
    );
    expect(error).toBeInstanceOf(ValidationException);
    expect(error.message).toBe(
      "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
    );
    expect(error.$metadata?.httpStatusCode).toBe(400);
  });

  it("no messages at all: the same ValidationException", async () => {
    const error = await rejectionOf(converse({ messages: [] }));
    expect(error).toBeInstanceOf(ValidationException);
    expect(error.message).toMatch(/^A conversation must start with a user message/);
  });

  it("a role outside the enum: the service framework's constraint message", async () => {
    const error = await rejectionOf(
      converse({ messages: [user("Hi"), { role: "bot" as "user", content: [{ text: "x" }] }] }),
    );
    expect(error).toBeInstanceOf(ValidationException);
    expect(error.message).toBe(
      "1 validation error detected: Value 'bot' at 'messages.2.member.role' failed to satisfy constraint: Member must satisfy enum value set: [assistant, system, user]",
    );
  });

  it("blank text and empty content: Converse names the place", async () => {
    const blank = await rejectionOf(converse({ messages: [{ role: "user", content: [{ text: "  " }] }] }));
    expect(blank.message).toBe(
      "The text field in the ContentBlock object at messages.0.content.0 is blank. Add text to the text field, and try again.",
    );
    const empty = await rejectionOf(converse({ messages: [user("Hi"), { role: "assistant", content: [] }] }));
    expect(empty.message).toBe(
      "The content field in the Message object at messages.1 is empty. Add a ContentBlock object to the content field and try again.",
    );
  });

  it("maxTokens above the model's limit, and below 1", async () => {
    const over = await rejectionOf(converse({ inferenceConfig: { maxTokens: 10_000_000 } }));
    expect(over).toBeInstanceOf(ValidationException);
    expect(over.message).toMatch(
      /^The maximum tokens you requested exceeds the model limit of (\d+)\. Try again with a maximum tokens value that is lower than \1\.$/,
    );
    const zero = await rejectionOf(converse({ inferenceConfig: { maxTokens: 0 } }));
    expect(zero.message).toBe(
      "1 validation error detected: Value '0' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
  });

  it("what the model layer refuses comes behind 'The model returned the following errors: '", async () => {
    const error = await rejectionOf(
      converse({
        inferenceConfig: { maxTokens: 1000 },
        additionalModelRequestFields: { thinking: { type: "enabled", budget_tokens: 2000 } },
      }),
    );
    expect(error).toBeInstanceOf(ValidationException);
    expect(error.message).toMatch(
      /^The model returned the following errors: `max_tokens` must be greater than `thinking.budget_tokens`/,
    );
  });

  it("toolUse blocks without toolConfig are refused", async () => {
    const error = await rejectionOf(
      converse({
        messages: [
          user("Hi"),
          { role: "assistant", content: [{ toolUse: { toolUseId: "t1", name: "x", input: {} } }] },
          { role: "user", content: [{ toolResult: { toolUseId: "t1", content: [{ text: "ok" }] } }] },
        ],
      }),
    );
    expect(error.message).toBe(
      "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
    );
  });

  it("an identity without bedrock:InvokeModel: AccessDeniedException naming the action IAM checks", async () => {
    const error = await rejectionOf(converse({}, runtime(READER)));
    expect(error).toBeInstanceOf(AccessDeniedException);
    expect(error.message).toBe(
      `User: arn:aws:iam::${ACCOUNT}:user/reader is not authorized to perform: bedrock:InvokeModel on resource: arn:aws:bedrock:us-east-1:${ACCOUNT}:inference-profile/${SONNET_46_PROFILE} because no identity-based policy allows the bedrock:InvokeModel action`,
    );
  });

  it("ConverseStream needs bedrock:InvokeModelWithResponseStream; Converse with InvokeModel alone works", async () => {
    const client = runtime(INVOKE_ONLY);
    const ok = await converse({}, client);
    expect(ok.stopReason).toBe("end_turn");
    const error = await rejectionOf(converseStream({}, client));
    expect(error).toBeInstanceOf(AccessDeniedException);
    expect(error.message).toContain("is not authorized to perform: bedrock:InvokeModelWithResponseStream");
  });

  it("a throttling fault surfaces as the SDK's ThrottlingException, journalled as Converse", async () => {
    emulator.current.setFaults({ rules: [{ error: "ThrottlingException", rate: 1 }] });
    const error = await rejectionOf(converse({}));
    expect(error).toBeInstanceOf(ThrottlingException);
    expect(error.$metadata?.httpStatusCode).toBe(429);
    const last = emulator.current.requests().at(-1)!;
    expect(last).toMatchObject({ operation: "Converse", status: 429, errorName: "ThrottlingException" });
  });
});

describe("ConverseStream", () => {
  it("typed events in order: messageStart, deltas, contentBlockStop, messageStop, metadata", async () => {
    const { events, requestId } = await converseStream({ messages: [user("Stream this")] });
    const kinds = events.map((e) =>
      Object.keys(e).find((k) => (e as unknown as Record<string, unknown>)[k] !== undefined),
    );
    expect(kinds[0]).toBe("messageStart");
    expect(events[0]!.messageStart?.role).toBe("assistant");
    expect(kinds.slice(-3)).toEqual(["contentBlockStop", "messageStop", "metadata"]);
    expect(kinds.filter((k) => k === "contentBlockDelta").length).toBeGreaterThan(1);
    expect(streamedText(events)).toBe(
      'This is the bedrock-claude emulator answering as claude-sonnet-4-6. You said: "Stream this".',
    );
    expect(events.at(-2)!.messageStop?.stopReason).toBe("end_turn");
    const metadata = events.at(-1)!.metadata!;
    const usage = metadata.usage as TokenUsage;
    expect(typeof metadata.metrics?.latencyMs).toBe("number");
    expect(usage.totalTokens).toBe(usage.inputTokens! + usage.outputTokens!);
    expect(recordOf(requestId)).toMatchObject({
      operation: "ConverseStream",
      stream: true,
      outcome: "completed",
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
    });
  });

  it("the same conversation streamed and not: the same text and usage", async () => {
    const whole = await converse({ messages: [user("Same either way")] });
    const { events } = await converseStream({ messages: [user("Same either way")] });
    expect(streamedText(events)).toBe(textOf(whole.output?.message?.content));
    const usage = events.at(-1)!.metadata!.usage!;
    expect(usage.inputTokens).toBe(whole.usage!.inputTokens);
    expect(usage.outputTokens).toBe(whole.usage!.outputTokens);
  });

  it("a tool call: contentBlockStart with toolUse, input deltas that join to the JSON input", async () => {
    const { events } = await converseStream({
      messages: [user("please call lookup with id=42")],
      toolConfig: {
        tools: [
          {
            toolSpec: {
              name: "lookup",
              inputSchema: {
                json: { type: "object", properties: { id: { type: "integer" } }, required: ["id"] },
              },
            },
          },
        ],
      },
    });
    const start = events.find((e) => e.contentBlockStart)!.contentBlockStart!;
    expect(start.start?.toolUse?.name).toBe("lookup");
    expect(start.start?.toolUse?.toolUseId).toMatch(/^toolu_bdrk_01/);
    const input = events
      .filter((e) => e.contentBlockDelta?.contentBlockIndex === start.contentBlockIndex)
      .map((e) => e.contentBlockDelta!.delta!.toolUse?.input ?? "")
      .join("");
    expect(JSON.parse(input)).toEqual({ id: 42 });
    expect(events.find((e) => e.messageStop)!.messageStop!.stopReason).toBe("tool_use");
  });

  it("thinking streams reasoningContent text, then its signature", async () => {
    const { events } = await converseStream({
      messages: [user("Reason aloud")],
      inferenceConfig: { maxTokens: 3000 },
      additionalModelRequestFields: { thinking: { type: "enabled", budget_tokens: 1024 } },
    });
    const reasoning = events
      .map((e) => e.contentBlockDelta)
      .filter((d) => d?.contentBlockIndex === 0 && d.delta?.reasoningContent)
      .map((d) => d!.delta!.reasoningContent!);
    const text = reasoning.map((r) => r.text ?? "").join("");
    expect(text).toContain('The user asks: "Reason aloud"');
    expect(reasoning.at(-1)?.signature).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(streamedText(events)).toContain('You said: "Reason aloud"');
  });

  it("a ModelStreamErrorException fault after 3 events: the SDK's typed exception mid-stream", async () => {
    emulator.current.setFaults({ rules: [{ error: "ModelStreamErrorException", rate: 1, afterEvents: 3 }] });
    const output = await runtime().send(
      new ConverseStreamCommand({ modelId: SONNET_46_PROFILE, messages: [user("Cut me off")] }),
    );
    const seen: ConverseStreamOutput[] = [];
    const error = await rejectionOf(
      (async () => {
        for await (const event of output.stream ?? []) seen.push(event);
      })(),
    );
    expect(error).toBeInstanceOf(ModelStreamErrorException);
    expect((error as unknown as ModelStreamErrorException).originalStatusCode).toBe(500);
    expect(seen).toHaveLength(3);
    expect(seen[0]!.messageStart).toBeDefined();
    const record = recordOf(output.$metadata.requestId);
    expect(record).toMatchObject({ operation: "ConverseStream", outcome: "error", outputTokens: 0 });
    expect(record.errorName).toBe("ModelStreamErrorException");
    // The input is billed once messageStart went out.
    expect(record.inputTokens).toBeGreaterThan(0);
  });

  it("a throttling fault before the first event: the SDK's ThrottlingException", async () => {
    emulator.current.setFaults({ rules: [{ error: "ThrottlingException", rate: 1 }] });
    const error = await rejectionOf(converseStream({}));
    expect(error).toBeInstanceOf(ThrottlingException);
  });
});

describe("usage accounting", () => {
  it("/_emulator/usage totals equal the summed usage the SDK saw over Converse and ConverseStream", async () => {
    const seen = { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, requests: 0 };
    const add = (u: TokenUsage | undefined) => {
      seen.input += u?.inputTokens ?? 0;
      seen.output += u?.outputTokens ?? 0;
      seen.cacheRead += u?.cacheReadInputTokens ?? 0;
      seen.cacheWrite += u?.cacheWriteInputTokens ?? 0;
      seen.requests++;
    };
    const long = Array.from({ length: 1200 }, (_, i) => `fact${i}`).join(" ");
    const cached: Partial<ConverseCommandInput> = {
      system: [{ text: long }, { cachePoint: { type: "default" } }],
      messages: [user("Totals")],
    };
    add((await converse(cached)).usage);
    add((await converse(cached)).usage);
    add((await converse({ modelId: HAIKU_45_PROFILE, messages: [user("[[tokens=40]] pad")] })).usage);
    for (const text of ["one", "two"]) {
      const { events } = await converseStream({ messages: [user(text)] });
      add(events.at(-1)?.metadata?.usage);
    }
    const res = await fetch(`${emulator.current.url}/_emulator/usage`);
    const body = (await res.json()) as {
      totals: { requests: number; inputTokens: number; outputTokens: number } & Record<string, number>;
    };
    expect(body.totals).toMatchObject({
      requests: seen.requests,
      inputTokens: seen.input,
      outputTokens: seen.output,
      cacheReadInputTokens: seen.cacheRead,
      cacheWriteInputTokens: seen.cacheWrite,
    });
    expect(seen.cacheRead).toBeGreaterThan(0);
  });
});
