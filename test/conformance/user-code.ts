/**
 * The user code of the conformance suites, written once against the official Anthropic SDK: it
 * takes only a client and must give the same results whatever the client reaches (any provider
 * through `createClient()`, or the gateway through a base URL).
 */
import type Anthropic from "@anthropic-ai/sdk";
import type { Message, Tool } from "@anthropic-ai/sdk/resources/messages";

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
    messages: [
      question,
      { role: "assistant", content: first.content },
      {
        role: "user",
        content: [{ type: "tool_result", tool_use_id: toolUse.id, content: getWeather(toolUse.input) }],
      },
    ],
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
