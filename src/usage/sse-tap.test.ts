import { describe, expect, it } from "vitest";
import { sseTap } from "./sse-tap.js";

const STREAM = [
  'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":12,"output_tokens":0}}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"héllo wörld"}}\n\n',
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n',
].join("");

async function run(
  chunks: Uint8Array[],
): Promise<{ events: string[]; text: string; complete: string | undefined }> {
  const events: string[] = [];
  let complete: string | undefined;
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  const out = sseTap(source, {
    onEvent: (type, data) =>
      events.push(`${type}:${JSON.stringify((data as { usage?: unknown }).usage ?? null)}`),
    onEnd: (c) => {
      complete = c;
    },
  });
  const text = await new Response(out).text();
  return { events, text, complete };
}

describe("sseTap", () => {
  it("passes the bytes through and sees usage events however the stream is cut into chunks", async () => {
    const bytes = new TextEncoder().encode(STREAM);
    for (const size of [1, 2, 3, 7, 16, 50, bytes.length]) {
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      const { events, text, complete } = await run(chunks);
      expect(text).toBe(STREAM);
      expect(events).toEqual(["message_start:null", 'message_delta:{"output_tokens":7}']);
      expect(complete).toBe("complete");
    }
  });

  it("reports a cancelled end when the reader cancels", async () => {
    let ended: string | undefined;
    const source = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => undefined) });
    const out = sseTap(source, { onEvent: () => undefined, onEnd: (c) => (ended = c) });
    await out.cancel("gone");
    expect(ended).toBe("cancelled");
  });

  it("reports a failed end when the upstream breaks, and passes the error on", async () => {
    let ended: string | undefined;
    const source = new ReadableStream<Uint8Array>({
      pull: (controller) => controller.error(new Error("reset")),
    });
    const out = sseTap(source, { onEvent: () => undefined, onEnd: (c) => (ended = c) });
    await expect(new Response(out).text()).rejects.toThrow("reset");
    expect(ended).toBe("failed");
  });
});
