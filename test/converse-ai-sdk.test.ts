/**
 * Conformance of the emulator's Converse and ConverseStream with the Vercel AI SDK (`ai` and
 * `@ai-sdk/amazon-bedrock`), unmodified but for the base URL and credentials: it signs with its own
 * SigV4 fetch, builds `/model/{id}/converse[-stream]` under `baseURL`, and decodes the event stream
 * itself.
 */
import { createAmazonBedrock } from "@ai-sdk/amazon-bedrock";
import { generateText, jsonSchema, stepCountIs, streamText, tool } from "ai";
import { beforeEach, describe, expect, it } from "vitest";
import { HAIKU_45_PROFILE, SONNET_46_PROFILE, TEST_CREDENTIALS, useEmulator } from "./helpers.js";

const emulator = useEmulator();

function bedrock() {
  return createAmazonBedrock({
    region: "us-east-1",
    ...TEST_CREDENTIALS,
    // The emulator's root: the provider appends /model/{id}/converse itself.
    baseURL: emulator.current.url,
  });
}

beforeEach(() => {
  emulator.current.resetJournal();
});

interface UsageBody {
  totals: {
    requests: number;
    inputTokens: number;
    outputTokens: number;
    cacheReadInputTokens: number;
    cacheWriteInputTokens: number;
  };
}

async function emulatorUsage(): Promise<UsageBody["totals"]> {
  const res = await fetch(`${emulator.current.url}/_emulator/usage`);
  return ((await res.json()) as UsageBody).totals;
}

const weather = tool({
  description: "Weather for a city",
  inputSchema: jsonSchema<{ city: string }>({
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false,
  }),
  execute: async ({ city }) => ({ city, tempC: 21 }),
});

describe("Vercel AI SDK over Converse", () => {
  it("generateText: the deterministic answer, finish reason stop, usage as the journal billed it", async () => {
    const result = await generateText({
      model: bedrock()(SONNET_46_PROFILE),
      system: "Answer briefly.",
      prompt: "What is the emulator?",
      maxOutputTokens: 300,
    });
    expect(result.text).toBe(
      'This is the bedrock-claude emulator answering as claude-sonnet-4-6. System prompt: "Answer briefly.". You said: "What is the emulator?".',
    );
    expect(result.finishReason).toBe("stop");
    const record = emulator.current.requests().at(-1)!;
    expect(record).toMatchObject({ operation: "Converse", status: 200, model: SONNET_46_PROFILE });
    expect(result.usage.inputTokens).toBe(record.inputTokens);
    expect(result.usage.outputTokens).toBe(record.outputTokens);
  });

  it("generateText with a model id holding ':' (Haiku 4.5): the provider's %3A path resolves", async () => {
    const result = await generateText({ model: bedrock()(HAIKU_45_PROFILE), prompt: "Hi" });
    expect(result.text).toContain("answering as claude-haiku-4-5-20251001");
  });

  it("streamText: the streamed text equals the whole answer; usage arrives with the metadata event", async () => {
    const whole = await generateText({ model: bedrock()(SONNET_46_PROFILE), prompt: "Stream or not" });
    const result = streamText({ model: bedrock()(SONNET_46_PROFILE), prompt: "Stream or not" });
    let text = "";
    let parts = 0;
    for await (const delta of result.textStream) {
      text += delta;
      parts++;
    }
    expect(parts).toBeGreaterThan(1);
    expect(text).toBe(whole.text);
    expect(await result.finishReason).toBe("stop");
    const usage = await result.usage;
    expect(usage.inputTokens).toBe(whole.usage.inputTokens);
    expect(usage.outputTokens).toBe(whole.usage.outputTokens);
    expect(emulator.current.requests().at(-1)).toMatchObject({
      operation: "ConverseStream",
      outcome: "completed",
    });
  });

  it("a tool call: the SDK runs the tool, sends the toolResult, and gets the answer about it", async () => {
    const result = await generateText({
      model: bedrock()(SONNET_46_PROFILE),
      prompt: "Call weather for city=Oslo",
      tools: { weather },
      stopWhen: stepCountIs(3),
    });
    expect(result.steps).toHaveLength(2);
    const [call] = result.steps[0]!.toolCalls;
    expect(call).toMatchObject({ toolName: "weather", input: { city: "Oslo" } });
    expect(result.steps[0]!.finishReason).toBe("tool-calls");
    expect(result.text).toMatch(/^Tool weather returned: ".*Oslo.*21.*"\.$/);
    expect(result.finishReason).toBe("stop");
    expect(emulator.current.requests().map((r) => r.operation)).toEqual(["Converse", "Converse"]);
  });

  it("a streamed tool call: tool-call parts with the parsed input", async () => {
    const result = streamText({
      model: bedrock()(SONNET_46_PROFILE),
      prompt: "Call weather for city=Lima",
      tools: { weather },
    });
    const calls: { toolName: string; input: unknown }[] = [];
    for await (const part of result.fullStream) {
      if (part.type === "tool-call") calls.push({ toolName: part.toolName, input: part.input });
    }
    expect(calls).toEqual([{ toolName: "weather", input: { city: "Lima" } }]);
    expect(await result.finishReason).toBe("tool-calls");
  });

  it("errors reach the caller with Bedrock's message", async () => {
    const error = await generateText({
      model: bedrock()(SONNET_46_PROFILE),
      prompt: "Hi",
      maxOutputTokens: 10_000_000,
      maxRetries: 0,
    }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/^The maximum tokens you requested exceeds the model limit of \d+/);
  });

  it("/_emulator/usage totals equal the usage the AI SDK reported", async () => {
    const seen = { input: 0, output: 0, requests: 0 };
    const a = await generateText({ model: bedrock()(SONNET_46_PROFILE), prompt: "[[tokens=30]] one" });
    seen.input += a.usage.inputTokens ?? 0;
    seen.output += a.usage.outputTokens ?? 0;
    seen.requests++;
    const b = streamText({ model: bedrock()(HAIKU_45_PROFILE), prompt: "two" });
    for await (const _ of b.textStream) {
      // drain
    }
    const bUsage = await b.usage;
    seen.input += bUsage.inputTokens ?? 0;
    seen.output += bUsage.outputTokens ?? 0;
    seen.requests++;
    const c = await generateText({
      model: bedrock()(SONNET_46_PROFILE),
      prompt: "Call weather for city=Rome",
      tools: { weather },
      stopWhen: stepCountIs(3),
    });
    seen.input += c.totalUsage.inputTokens ?? 0;
    seen.output += c.totalUsage.outputTokens ?? 0;
    seen.requests += c.steps.length;
    expect(await emulatorUsage()).toEqual({
      requests: seen.requests,
      inputTokens: seen.input,
      outputTokens: seen.output,
      cacheReadInputTokens: 0,
      cacheWriteInputTokens: 0,
    });
    expect(seen.output).toBeGreaterThanOrEqual(30);
  });
});
