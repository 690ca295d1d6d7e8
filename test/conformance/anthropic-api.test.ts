/**
 * Conformance of the emulator's Anthropic API endpoint (`/v1/messages`, `/v1/messages/count_tokens`,
 * `x-api-key`) with the official `@anthropic-ai/sdk` client, unmodified apart from base URL and key.
 */
import Anthropic, { type APIError, AuthenticationError, NotFoundError } from "@anthropic-ai/sdk";
import type {
  Message,
  MessageCreateParamsNonStreaming,
  RawMessageStreamEvent,
} from "@anthropic-ai/sdk/resources/messages";
import { describe, expect, it } from "vitest";
import { useEmulator } from "../helpers.js";

const emulator = useEmulator();

const MODEL = "claude-sonnet-4-6";

function client(apiKey = emulator.current.credentials.anthropicApiKey): Anthropic {
  return new Anthropic({ baseURL: emulator.current.url, apiKey, maxRetries: 0 });
}

function textOf(message: Message): string {
  return message.content
    .filter((b) => b.type === "text")
    .map((b) => (b.type === "text" ? b.text : ""))
    .join("");
}

const params = (
  overrides: Partial<MessageCreateParamsNonStreaming> = {},
): MessageCreateParamsNonStreaming => ({
  model: MODEL,
  max_tokens: 512,
  system: "You answer briefly.",
  messages: [{ role: "user", content: "Tell me about the Anthropic API endpoint [[tokens=90]]" }],
  ...overrides,
});

describe("Anthropic API (@anthropic-ai/sdk)", () => {
  it("messages.create answers an Anthropic Message", async () => {
    const message = await client().messages.create(params());
    expect(message.type).toBe("message");
    expect(message.role).toBe("assistant");
    expect(message.id).toMatch(/^msg_01/);
    expect(message.id).not.toMatch(/bdrk/);
    expect(message.model).toBe(MODEL);
    expect(message.stop_reason).toBe("end_turn");
    expect(message.stop_sequence).toBeNull();
    expect(textOf(message)).toContain('System prompt: "You answer briefly.".');
    expect(textOf(message)).toContain('You said: "Tell me about the Anthropic API endpoint".');
    expect(textOf(message)).not.toContain("[[tokens=");
    expect(message.usage.output_tokens).toBeGreaterThanOrEqual(90);
    expect(message.usage.input_tokens).toBeGreaterThan(0);
    const last = emulator.current.requests().at(-1)!;
    expect(last.api).toBe("anthropic");
    expect(last.status).toBe(200);
  });

  it("the model field is the Anthropic name, also when an alias was asked for", async () => {
    const message = await client().messages.create(params({ model: "claude-haiku-4-5" }));
    expect(message.model).toBe("claude-haiku-4-5-20251001");
  });

  it("the SSE stream carries a ping, which the SDK tolerates", async () => {
    const response = await client()
      .messages.create({ ...params(), stream: true })
      .asResponse();
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const raw = await response.text();
    const events = [...raw.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    expect(events).toContain("ping");
    expect(events[0]).toBe("message_start");
    expect(events.at(-1)).toBe("message_stop");

    // The SDK's own iterator skips the ping and yields every other event in order.
    const stream = await client().messages.create({ ...params(), stream: true });
    const seen: RawMessageStreamEvent["type"][] = [];
    for await (const event of stream) seen.push(event.type);
    expect(seen).toEqual(events.filter((e) => e !== "ping"));
  });

  it("messages.stream: text events concatenate to finalMessage(); usage matches create()", async () => {
    const created = await client().messages.create(params());
    const stream = client().messages.stream(params());
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
    expect(final.model).toBe(MODEL);
    expect(final.stop_reason).toBe("end_turn");
    expect(final.usage.output_tokens).toBe(created.usage.output_tokens);
    expect(final.usage.input_tokens).toBe(created.usage.input_tokens);
  });

  it("messages.countTokens counts what create() bills as input", async () => {
    const request = params();
    const counted = await client().messages.countTokens({
      model: request.model,
      system: request.system,
      messages: request.messages,
    });
    expect(counted.input_tokens).toBeGreaterThan(0);
    const created = await client().messages.create(request);
    expect(created.usage.input_tokens).toBe(counted.input_tokens);

    const longer = await client().messages.countTokens({
      model: request.model,
      system: request.system,
      messages: [
        ...request.messages,
        { role: "assistant", content: "Some earlier answer." },
        { role: "user", content: "And more." },
      ],
    });
    expect(longer.input_tokens).toBeGreaterThan(counted.input_tokens);
  });

  it("a wrong API key is an AuthenticationError (401)", async () => {
    const error = await client("sk-ant-not-a-key")
      .messages.create(params())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as APIError).status).toBe(401);
    expect((error as APIError).type).toBe("authentication_error");
  });

  it("a wrong API key is an AuthenticationError on countTokens too", async () => {
    const error = await client("sk-ant-not-a-key")
      .messages.countTokens({ model: MODEL, messages: [{ role: "user", content: "Hi" }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
  });

  it("an unknown model name is a NotFoundError (404)", async () => {
    const error = await client()
      .messages.create(params({ model: "claude-imaginary-9" }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as APIError).status).toBe(404);
    expect((error as APIError).type).toBe("not_found_error");
  });

  it("a Bedrock model id is not an Anthropic API model name (NotFoundError)", async () => {
    const error = await client()
      .messages.create(params({ model: "us.anthropic.claude-sonnet-4-6" }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
  });
});
