/**
 * Raw HTTP streams through the gateway when the upstream paces its events (as a real model does):
 * frames arrive as they are made, not buffered into one answer, and the SSE the gateway writes is
 * framed byte for byte as the Anthropic API frames it (the emulator's own /v1/messages, paced the
 * same), ping included, whatever the chunk boundaries.
 */
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { CreatedKey } from "../../src/gateway/index.js";
import { useGateway } from "./gateway-helpers.js";

const EVENT_MS = 15;
const harness = useGateway(undefined, { config: { pace: { firstByteMs: 0, eventMs: EVENT_MS } } });

let key: CreatedKey;
beforeAll(async () => {
  key = harness.gateway.keys.create({ name: "raw-stream" });
  await vi.waitFor(() => expect(harness.gateway.open()).toBe(false), { timeout: 3000, interval: 50 });
});

interface Arrival {
  at: number;
  text: string;
}

/** POSTs a streaming Messages call and records each chunk as it arrives. */
async function streamed(url: string, apiKey: string): Promise<{ response: Response; chunks: Arrival[] }> {
  const started = Date.now();
  const response = await fetch(`${url}/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": apiKey, "anthropic-version": "2023-06-01", "content-type": "application/json" },
    body: JSON.stringify({
      model: "claude-sonnet-4-6",
      max_tokens: 256,
      stream: true,
      messages: [{ role: "user", content: "Pace this answer [[tokens=30]]" }],
    }),
  });
  const chunks: Arrival[] = [];
  const decoder = new TextDecoder();
  const reader = response.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push({ at: Date.now() - started, text: decoder.decode(value, { stream: true }) });
  }
  return { response, chunks };
}

const frames = (text: string) => text.slice(0, -2).split("\n\n");

describe("a paced stream through the gateway", () => {
  it("arrives frame by frame, framed as the Anthropic API frames it, ping after the first block starts", async () => {
    const through = await streamed(harness.gateway.url, key.token);
    const direct = await streamed(harness.emulator.url, harness.emulator.credentials.anthropicApiKey);
    expect(through.response.status).toBe(200);
    expect(through.response.headers.get("content-length")).toBeNull();
    expect(through.response.headers.get("request-id")).toMatch(/^req_/);

    // Streamed, not buffered: many chunks, the first long before the last.
    expect(through.chunks.length).toBeGreaterThan(5);
    expect(through.chunks.at(-1)!.at - through.chunks[0]!.at).toBeGreaterThan(EVENT_MS * 4);

    const text = through.chunks.map((c) => c.text).join("");
    const directText = direct.chunks.map((c) => c.text).join("");
    expect(text.endsWith("\n\n")).toBe(true);
    const events = frames(text).map((frame) => {
      const match = /^event: ([a-z_]+)\ndata: (\{[^\n]*\})$/.exec(frame);
      expect(match, frame).not.toBeNull();
      expect((JSON.parse(match![2]!) as { type: string }).type).toBe(match![1]);
      return match![1];
    });
    const directEvents = frames(directText).map((frame) => frame.slice(7, frame.indexOf("\n")));
    expect(events).toEqual(directEvents);
    expect(events.filter((e) => e === "ping")).toHaveLength(1);
    expect(events.indexOf("ping")).toBe(events.indexOf("content_block_start") + 1);
    // The text deltas are the same bytes as the Anthropic API's.
    const deltas = (t: string) => frames(t).filter((f) => f.startsWith("event: content_block_delta\n"));
    expect(deltas(text)).toEqual(deltas(directText));

    const requestId = through.response.headers.get("request-id");
    await vi.waitFor(() => {
      const record = harness
        .ledger()
        .requests({ since: 0 })
        .find((r) => r.id === requestId);
      expect(record).toMatchObject({ key: "raw-stream", stream: true, status: 200, outputTokens: 30 });
    });
  });
});
