/**
 * The emulator's documented deterministic answers (src/emulator/responder.ts, prompt-cache.ts),
 * observed through official clients: `AnthropicBedrock` (InvokeModel, AWS event stream) and the
 * Anthropic API client (`/v1/messages`, SSE). One suite, run on both.
 *
 * `AnthropicBedrock` has no `countTokens` (Bedrock's CountTokens is not mapped by the SDK), so on
 * Bedrock tokens are counted with the official AWS SDK's CountTokensCommand, on the foundation id.
 */
import { AnthropicBedrock } from "@anthropic-ai/bedrock-sdk";
import Anthropic from "@anthropic-ai/sdk";
import type {
  ContentBlock,
  Message,
  MessageCreateParamsNonStreaming,
  RawMessageStreamEvent,
  Tool,
} from "@anthropic-ai/sdk/resources/messages";
import { BedrockRuntimeClient, CountTokensCommand } from "@aws-sdk/client-bedrock-runtime";
import { describe, expect, it } from "vitest";
import { SONNET_46_FOUNDATION, SONNET_46_PROFILE, useEmulator } from "../helpers.js";

const emulator = useEmulator();

const REGION = "us-east-1";
const ANTHROPIC_NAME = "claude-sonnet-4-6";
/** data/bedrock.json minCacheableTokens for claude-sonnet-4-6 (the `*` rule). */
const SONNET_46_MIN_CACHEABLE = 1024;

type MessagesApi = Pick<Anthropic["messages"], "create" | "stream">;
type CountParams = Pick<MessageCreateParamsNonStreaming, "messages" | "system" | "tools" | "tool_choice">;

interface Target {
  name: string;
  model: string;
  /** The `toolu_` id prefix the platform uses. */
  toolIdPrefix: RegExp;
  messages: () => MessagesApi;
  countTokens: (params: CountParams) => Promise<number>;
}

const TARGETS: Target[] = [
  {
    name: "AnthropicBedrock (InvokeModel)",
    model: SONNET_46_PROFILE,
    toolIdPrefix: /^toolu_bdrk_/,
    messages: () =>
      new AnthropicBedrock({
        baseURL: emulator.current.url,
        awsRegion: REGION,
        awsAccessKey: emulator.current.credentials.accessKeyId,
        awsSecretKey: emulator.current.credentials.secretAccessKey,
        apiKey: null,
        maxRetries: 0,
      }).messages,
    countTokens: async (params) => {
      const runtime = new BedrockRuntimeClient({
        endpoint: emulator.current.url,
        region: REGION,
        credentials: {
          accessKeyId: emulator.current.credentials.accessKeyId,
          secretAccessKey: emulator.current.credentials.secretAccessKey,
        },
        maxAttempts: 1,
      });
      try {
        const body = { anthropic_version: "bedrock-2023-05-31", max_tokens: 1, ...params };
        const answer = await runtime.send(
          new CountTokensCommand({
            modelId: SONNET_46_FOUNDATION,
            input: { invokeModel: { body: new TextEncoder().encode(JSON.stringify(body)) } },
          }),
        );
        return answer.inputTokens!;
      } finally {
        runtime.destroy();
      }
    },
  },
  {
    name: "Anthropic API",
    model: ANTHROPIC_NAME,
    toolIdPrefix: /^toolu_01/,
    messages: () =>
      new Anthropic({
        baseURL: emulator.current.url,
        apiKey: emulator.current.credentials.anthropicApiKey,
        maxRetries: 0,
      }).messages,
    countTokens: async (params) => {
      const client = new Anthropic({
        baseURL: emulator.current.url,
        apiKey: emulator.current.credentials.anthropicApiKey,
        maxRetries: 0,
      });
      const answer = await client.messages.countTokens({ model: ANTHROPIC_NAME, ...params });
      return answer.input_tokens;
    },
  },
];

function textOf(message: Message): string {
  return message.content
    .filter((b) => b.type === "text")
    .map((b) => (b.type === "text" ? b.text : ""))
    .join("");
}

const WEATHER_TOOL: Tool = {
  name: "get_weather",
  description: "Current weather at a location.",
  input_schema: {
    type: "object",
    properties: {
      location: { type: "string", description: "City name" },
      unit: { type: "string", enum: ["celsius", "fahrenheit"] },
    },
    // Both required: the emulator fills required properties only (responder.ts TSDoc).
    required: ["location", "unit"],
  },
};

/** About 1,200 one-token words: above claude-sonnet-4-6's cacheable minimum. */
function longText(tag: string): string {
  const words = [
    "alpha",
    "bravo",
    "delta",
    "echo",
    "golf",
    "hotel",
    "india",
    "kilo",
    "lima",
    "mike",
    "oscar",
    "papa",
  ];
  return `${tag}: ${Array.from({ length: 1200 }, (_, i) => words[i % words.length]).join(" ")}`;
}

describe.each(TARGETS)("responder through $name", (target) => {
  const base = (prompt: string, overrides: Partial<MessageCreateParamsNonStreaming> = {}) => ({
    model: target.model,
    max_tokens: 512,
    messages: [{ role: "user" as const, content: prompt }],
    ...overrides,
  });

  it("echoes the model, the system prompt and the user's text", async () => {
    const message = await target
      .messages()
      .create(base("Tell me a fact", { system: "You are a terse pirate." }));
    expect(message.model).toBe(ANTHROPIC_NAME);
    expect(textOf(message)).toBe(
      `This is the bedrock-claude emulator answering as ${ANTHROPIC_NAME}. System prompt: "You are a terse pirate.". You said: "Tell me a fact".`,
    );
    expect(message.stop_reason).toBe("end_turn");
    expect(message.stop_sequence).toBeNull();
  });

  it("stop_sequences: stop_reason stop_sequence, the sequence named, text cut before it", async () => {
    const prompt = "first part HALT-HERE second part";
    const full = textOf(await target.messages().create(base(prompt)));
    expect(full).toContain("HALT-HERE");

    const message = await target
      .messages()
      .create(base(prompt, { stop_sequences: ["NEVER-SEEN", "HALT-HERE"] }));
    expect(message.stop_reason).toBe("stop_sequence");
    expect(message.stop_sequence).toBe("HALT-HERE");
    const text = textOf(message);
    expect(text).toBe(full.slice(0, full.indexOf("HALT-HERE")));
    expect(text.endsWith('You said: "first part ')).toBe(true);
  });

  it("a small max_tokens: stop_reason max_tokens and output_tokens === max_tokens", async () => {
    const full = textOf(await target.messages().create(base("Say a lot of things please")));
    const message = await target.messages().create(base("Say a lot of things please", { max_tokens: 5 }));
    expect(message.stop_reason).toBe("max_tokens");
    expect(message.usage.output_tokens).toBe(5);
    const text = textOf(message);
    expect(text.length).toBeGreaterThan(0);
    expect(full.startsWith(text)).toBe(true);
    expect(text.length).toBeLessThan(full.length);
  });

  it("[[tokens=200]] pads the answer to exactly 200 output tokens", async () => {
    const message = await target
      .messages()
      .create(base("Pad this answer [[tokens=200]]", { max_tokens: 4000 }));
    expect(message.stop_reason).toBe("end_turn");
    expect(textOf(message)).toContain('You said: "Pad this answer".');
    expect(message.usage.output_tokens).toBe(200);
  });

  it("tool use round trip: tool_use from the schema and the prompt, then the tool_result answered", async () => {
    const prompt = "What is the weather? use get_weather location=Paris";
    const first = await target.messages().create(base(prompt, { tools: [WEATHER_TOOL] }));
    expect(first.stop_reason).toBe("tool_use");
    // Not forced: a short text block announces the call.
    expect(first.content.map((b) => b.type)).toEqual(["text", "tool_use"]);
    const toolUse = first.content.find((b) => b.type === "tool_use");
    expect(toolUse).toBeDefined();
    if (toolUse?.type !== "tool_use") throw new Error("no tool_use block");
    expect(toolUse.name).toBe("get_weather");
    expect(toolUse.input).toEqual({ location: "Paris", unit: "celsius" });
    expect(toolUse.id).toMatch(target.toolIdPrefix);
    expect(first.content.at(-1)).toBe(toolUse);

    const second = await target.messages().create(
      base(prompt, {
        tools: [WEATHER_TOOL],
        messages: [
          { role: "user", content: prompt },
          { role: "assistant", content: first.content },
          {
            role: "user",
            content: [{ type: "tool_result", tool_use_id: toolUse.id, content: "15 degrees and sunny" }],
          },
        ],
      }),
    );
    expect(second.stop_reason).toBe("end_turn");
    expect(second.content.every((b: ContentBlock) => b.type === "text")).toBe(true);
    expect(textOf(second)).toBe('Tool get_weather returned: "15 degrees and sunny".');
  });

  it("tool_choice {type: tool} forces the tool, with no text block before it", async () => {
    const message = await target.messages().create(
      base("Nothing in this prompt names a tool.", {
        tools: [WEATHER_TOOL],
        tool_choice: { type: "tool", name: "get_weather" },
      }),
    );
    expect(message.stop_reason).toBe("tool_use");
    expect(message.content).toHaveLength(1);
    const [block] = message.content;
    expect(block?.type).toBe("tool_use");
    if (block?.type !== "tool_use") throw new Error("no tool_use block");
    expect(block.name).toBe("get_weather");
    expect(block.input).toEqual({ location: "example", unit: "celsius" });
  });

  it("thinking: a signed thinking block first; streamed as thinking_delta and signature_delta", async () => {
    const params = base("Think about this briefly", {
      max_tokens: 2048,
      thinking: { type: "enabled", budget_tokens: 1024 },
    });
    const created = await target.messages().create(params);
    expect(created.content.map((b) => b.type)).toEqual(["thinking", "text"]);
    const [thinkingBlock] = created.content;
    if (thinkingBlock?.type !== "thinking") throw new Error("no thinking block");
    expect(thinkingBlock.thinking.length).toBeGreaterThan(0);
    expect(thinkingBlock.signature.length).toBeGreaterThan(0);
    expect(textOf(created)).toContain('You said: "Think about this briefly".');

    const stream = target.messages().stream(params);
    const deltaTypes: string[] = [];
    let thinking = "";
    let signature = "";
    stream.on("streamEvent", (event: RawMessageStreamEvent) => {
      if (event.type === "content_block_delta") deltaTypes.push(event.delta.type);
    });
    stream.on("thinking", (delta) => {
      thinking += delta;
    });
    stream.on("signature", (sig) => {
      signature = sig;
    });
    const final = await stream.finalMessage();
    expect(deltaTypes).toContain("thinking_delta");
    expect(deltaTypes).toContain("signature_delta");
    expect(deltaTypes).toContain("text_delta");
    // Thinking deltas come first, then the signature, then the text.
    expect(deltaTypes.indexOf("signature_delta")).toBeGreaterThan(deltaTypes.lastIndexOf("thinking_delta"));
    expect(deltaTypes.indexOf("text_delta")).toBeGreaterThan(deltaTypes.indexOf("signature_delta"));
    const [finalThinking] = final.content;
    if (finalThinking?.type !== "thinking") throw new Error("no thinking block in the stream");
    expect(finalThinking.thinking).toBe(thinking);
    expect(finalThinking.thinking).toBe(thinkingBlock.thinking);
    expect(finalThinking.signature).toBe(signature);
    expect(finalThinking.signature).toBe(thinkingBlock.signature);
    expect(final.usage.output_tokens).toBe(created.usage.output_tokens);
  });

  it("input_tokens equals the token count of the same request", async () => {
    const params = base("Count me, with a tool offered", { system: "Be brief.", tools: [WEATHER_TOOL] });
    const counted = await target.countTokens({
      messages: params.messages,
      system: params.system,
      tools: params.tools,
    });
    const message = await target.messages().create(params);
    expect(counted).toBeGreaterThan(0);
    expect(message.usage.input_tokens).toBe(counted);
    expect(message.usage.cache_creation_input_tokens ?? 0).toBe(0);
    expect(message.usage.cache_read_input_tokens ?? 0).toBe(0);
  });

  it("prompt caching: a long cache_control prefix is written once, then read", async () => {
    const system = [
      {
        type: "text" as const,
        text: longText(`cache test via ${target.name}`),
        cache_control: { type: "ephemeral" as const },
      },
    ];
    const params = base("Answer using the cached instructions", { system });
    const counted = await target.countTokens({ messages: params.messages, system });
    expect(counted).toBeGreaterThan(SONNET_46_MIN_CACHEABLE);

    const first = await target.messages().create(params);
    const written = first.usage.cache_creation_input_tokens ?? 0;
    expect(written).toBeGreaterThan(SONNET_46_MIN_CACHEABLE);
    expect(first.usage.cache_read_input_tokens ?? 0).toBe(0);
    expect(first.usage.input_tokens + written).toBe(counted);

    const second = await target.messages().create(params);
    expect(second.usage.cache_read_input_tokens).toBe(written);
    expect(second.usage.cache_creation_input_tokens ?? 0).toBe(0);
    expect(second.usage.input_tokens + written).toBe(counted);
    expect(second.usage.input_tokens).toBe(first.usage.input_tokens);
  });

  it("prompt caching: a prefix shorter than the minimum is never cached", async () => {
    const system = [
      {
        type: "text" as const,
        text: `A short system prompt via ${target.name}.`,
        cache_control: { type: "ephemeral" as const },
      },
    ];
    const params = base("Answer with the short prompt", { system });
    const counted = await target.countTokens({ messages: params.messages, system });
    expect(counted).toBeLessThan(SONNET_46_MIN_CACHEABLE);
    for (let call = 0; call < 2; call++) {
      const message = await target.messages().create(params);
      expect(message.usage.cache_creation_input_tokens ?? 0).toBe(0);
      expect(message.usage.cache_read_input_tokens ?? 0).toBe(0);
      expect(message.usage.input_tokens).toBe(counted);
    }
  });
});
