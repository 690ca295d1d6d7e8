/**
 * The user code of the conformance suites, written once against the official Anthropic SDK: it
 * takes only a client and must give the same results whatever the client reaches (any provider
 * through `createClient()`, or the gateway through a base URL).
 */
import type Anthropic from "@anthropic-ai/sdk";
import type {
  Message,
  MessageCreateParamsNonStreaming,
  MessageParam,
  Tool,
} from "@anthropic-ai/sdk/resources/messages";
import { expect } from "vitest";

/** The model the user code asks for. */
const MODEL = "claude-sonnet-4-6";

export function textOf(message: Pick<Message, "content">): string {
  return message.content
    .filter((b) => b.type === "text")
    .map((b) => (b.type === "text" ? b.text : ""))
    .join("");
}

export const WEATHER_TOOL: Tool = {
  name: "get_weather",
  description: "The current weather in a city.",
  input_schema: {
    type: "object",
    properties: { city: { type: "string", description: "City name" } },
    required: ["city"],
  },
};

export function getWeather(input: unknown): string {
  const city = (input as { city?: unknown }).city;
  return `18 degrees and sunny in ${String(city)}`;
}

/** The conversation after a tool call: the question, the model's turn, and the tool's result. */
function withToolResult(
  question: MessageParam,
  first: Message,
  toolUse: { id: string; input: unknown },
): MessageParam[] {
  return [
    question,
    { role: "assistant", content: first.content },
    {
      role: "user",
      content: [{ type: "tool_result", tool_use_id: toolUse.id, content: getWeather(toolUse.input) }],
    },
  ];
}

/** Create, stream, and a tool use round trip: what most applications do. */
export async function userCode(client: Anthropic) {
  const created = await client.messages.create({
    model: MODEL,
    max_tokens: 512,
    system: "You answer briefly.",
    messages: [{ role: "user", content: "Tell me something [[tokens=60]]" }],
  });

  const stream = client.messages.stream({
    model: MODEL,
    max_tokens: 512,
    messages: [{ role: "user", content: "Stream this please [[tokens=45]]" }],
  });
  const deltas: string[] = [];
  stream.on("text", (delta) => deltas.push(delta));
  const streamed = await stream.finalMessage();

  const question = { role: "user" as const, content: "Use get_weather for city=Paris" };
  const first = await client.messages.create({
    model: MODEL,
    max_tokens: 512,
    tools: [WEATHER_TOOL],
    messages: [question],
  });
  const toolUse = first.content.find((b) => b.type === "tool_use");
  if (toolUse?.type !== "tool_use") throw new Error("the model did not call the tool");
  const answer = await client.messages.create({
    model: MODEL,
    max_tokens: 512,
    tools: [WEATHER_TOOL],
    messages: withToolResult(question, first, toolUse),
  });

  return {
    created: {
      model: created.model,
      text: textOf(created),
      stopReason: created.stop_reason,
      inputTokens: created.usage.input_tokens,
      outputTokens: created.usage.output_tokens,
    },
    streamed: {
      model: streamed.model,
      deltas: deltas.length,
      deltasText: deltas.join(""),
      text: textOf(streamed),
      stopReason: streamed.stop_reason,
      outputTokens: streamed.usage.output_tokens,
    },
    tool: {
      stopReason: first.stop_reason,
      name: toolUse.name,
      input: toolUse.input,
      idShape: /^toolu_/.test(toolUse.id),
      answer: textOf(answer),
      answerStopReason: answer.stop_reason,
    },
  };
}

/**
 * Cases both conformance suites run, the same assertions whatever the client reaches: each takes
 * a client (createClient's, or the official SDK pointed at the gateway).
 */
const ask = (overrides: Partial<MessageCreateParamsNonStreaming>): MessageCreateParamsNonStreaming => ({
  model: MODEL,
  max_tokens: 256,
  messages: [{ role: "user", content: "Hello from the conformance suite" }],
  ...overrides,
});

/** A tool_use block, the tool_result sent back, and a final text that names the result. */
export async function toolRoundTrip(client: Anthropic): Promise<void> {
  const question = { role: "user" as const, content: "What is the weather? Call get_weather, city: Lisbon" };
  const first = await client.messages.create(ask({ tools: [WEATHER_TOOL], messages: [question] }));
  expect(first.stop_reason).toBe("tool_use");
  const toolUse = first.content.find((b) => b.type === "tool_use");
  expect(toolUse?.type).toBe("tool_use");
  if (toolUse?.type !== "tool_use") return;
  expect(toolUse.name).toBe("get_weather");
  expect(toolUse.input).toEqual({ city: "Lisbon" });
  expect(toolUse.id).toMatch(/^toolu_/);
  const second = await client.messages.create(
    ask({
      tools: [WEATHER_TOOL],
      messages: withToolResult(question, first, toolUse),
    }),
  );
  expect(second.stop_reason).toBe("end_turn");
  expect(textOf(second)).toContain("18 degrees and sunny in Lisbon");
  expect(textOf(second)).toContain("get_weather");
}

/** A forced tool call while streaming: the SDK assembles the tool_use input from its deltas. */
export async function toolWhileStreaming(client: Anthropic): Promise<void> {
  const final = await client.messages
    .stream(
      ask({
        tools: [WEATHER_TOOL],
        tool_choice: { type: "tool", name: "get_weather" },
        messages: [{ role: "user", content: "city=Oslo" }],
      }),
    )
    .finalMessage();
  expect(final.stop_reason).toBe("tool_use");
  const toolUse = final.content.find((b) => b.type === "tool_use");
  expect(toolUse?.type === "tool_use" ? toolUse.input : undefined).toEqual({ city: "Oslo" });
}

/** The system prompt as a string and as an array of text blocks. */
export async function systemPrompt(client: Anthropic): Promise<void> {
  const asString = await client.messages.create(ask({ system: "You are terse." }));
  expect(textOf(asString)).toContain('System prompt: "You are terse.".');
  const asBlocks = await client.messages.create(
    ask({
      system: [
        { type: "text", text: "First rule." },
        { type: "text", text: "Second rule." },
      ],
    }),
  );
  expect(textOf(asBlocks)).toContain("First rule.");
  expect(textOf(asBlocks)).toContain("Second rule.");
}

/** max_tokens cuts the answer, streamed or not: stop_reason max_tokens, output_tokens === max_tokens. */
export async function maxTokensTruncates(client: Anthropic): Promise<void> {
  const request = ask({
    max_tokens: 20,
    messages: [{ role: "user", content: "A long answer please [[tokens=200]]" }],
  });
  const message = await client.messages.create(request);
  expect(message.stop_reason).toBe("max_tokens");
  expect(message.usage.output_tokens).toBe(20);
  expect(textOf(message).length).toBeGreaterThan(0);
  const final = await client.messages.stream(request).finalMessage();
  expect(final.stop_reason).toBe("max_tokens");
  expect(final.usage.output_tokens).toBe(20);
  expect(textOf(final)).toBe(textOf(message));
}
