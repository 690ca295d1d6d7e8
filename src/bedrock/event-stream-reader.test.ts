import { EventStreamCodec } from "@smithy/eventstream-codec";
import type { MessageHeaders } from "@smithy/types";
import { fromUtf8, toUtf8 } from "@smithy/util-utf8";
import { describe, expect, it } from "vitest";
import { encodeChunkEvent, encodeExceptionEvent } from "./event-stream.js";
import { EventStreamReader } from "./event-stream-reader.js";
import { EventStreamToSse, type StreamObserver } from "./event-stream-sse.js";

// The AWS SDK's own codec writes the frames these tests read: the reader is checked against it.
const codec = new EventStreamCodec(toUtf8, fromUtf8);

const events = [
  { type: "message_start", message: { id: "msg_1", usage: { input_tokens: 12, output_tokens: 1 } } },
  { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
  { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: 'Hé, 世界 / "q"\n' } },
  { type: "content_block_stop", index: 0 },
  { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 7 } },
  { type: "message_stop" },
];

function stream(): Buffer {
  return Buffer.concat([
    ...events.map((e, i) => encodeChunkEvent(JSON.stringify(e), i % 2 ? "abcdefgh" : undefined)),
    encodeExceptionEvent("ModelStreamErrorException", { message: "the model stopped" }),
  ]);
}

function convert(chunks: Uint8Array[]): { sse: string; seen: string[]; errors: string[] } {
  const seen: string[] = [];
  const errors: string[] = [];
  const observer: StreamObserver = {
    onEvent: (e) => seen.push(e.type),
    onError: (e) => errors.push(`${e.name}: ${e.message}`),
  };
  const converter = new EventStreamToSse("req-1", observer);
  let sse = "";
  for (const chunk of chunks) sse += converter.push(chunk) ?? "";
  converter.end();
  return { sse, seen, errors };
}

describe("event-stream reader", () => {
  it("converts whole frames to the Anthropic API's SSE, ping after the first block starts", () => {
    const { sse, seen, errors } = convert([stream()]);
    const names = [...sse.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(names).toEqual([
      "message_start",
      "content_block_start",
      "ping",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
      "error",
    ]);
    // Every event's data is the JSON Bedrock carried, on one line.
    const data = [...sse.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]!));
    expect(data.filter((d) => d.type !== "ping" && d.type !== "error")).toEqual(events);
    expect(data.at(-1)).toMatchObject({ type: "error", error: { type: "api_error" } });
    expect(seen).toEqual(["message_start", "message_delta", "message_stop"]);
    expect(errors).toEqual(["ModelStreamErrorException: the model stopped"]);
  });

  it("gives the same SSE whatever the chunk boundaries (every split point, and byte by byte)", () => {
    const bytes = stream();
    const whole = convert([bytes]).sse;
    for (let cut = 1; cut < bytes.length; cut += 7) {
      expect(convert([bytes.subarray(0, cut), bytes.subarray(cut)]).sse).toBe(whole);
    }
    const oneByOne = Array.from({ length: bytes.length }, (_, i) => new Uint8Array(bytes.subarray(i, i + 1)));
    expect(convert(oneByOne).sse).toBe(whole);
  });

  it("fails a frame whose prelude or message CRC does not match", () => {
    const frame = Buffer.from(encodeChunkEvent('{"type":"message_stop"}'));
    const prelude = Buffer.from(frame);
    prelude[9] = (prelude[9] ?? 0) ^ 0xff;
    expect(() => convert([prelude])).toThrow(/prelude checksum/);
    const body = Buffer.from(frame);
    body[80] = (body[80] ?? 0) ^ 0xff;
    expect(() => convert([body])).toThrow(/message checksum/);
  });

  it("fails an impossible length and a stream that ends inside a frame", () => {
    const frame = Buffer.from(encodeChunkEvent('{"type":"message_stop"}'));
    const bad = Buffer.from(frame);
    bad.writeUInt32BE(8, 0);
    expect(() => convert([bad])).toThrow(/frame length 8/);
    expect(() => convert([frame.subarray(0, 40)])).toThrow(/ended inside a frame/);
  });

  it("skips headers of every other type and reads the ones it needs", () => {
    const headers: MessageHeaders = {
      ":flag": { type: "boolean", value: true },
      ":off": { type: "boolean", value: false },
      ":byte": { type: "byte", value: 7 },
      ":short": { type: "short", value: 300 },
      ":int": { type: "integer", value: 70000 },
      ":bin": { type: "binary", value: new Uint8Array([1, 2, 3]) },
      ":when": { type: "timestamp", value: new Date(0) },
      ":id": { type: "uuid", value: "123e4567-e89b-12d3-a456-426614174000" },
      ":event-type": { type: "string", value: "chunk" },
      ":message-type": { type: "string", value: "event" },
    };
    const body = fromUtf8(
      JSON.stringify({ bytes: Buffer.from('{"type":"message_stop"}').toString("base64") }),
    );
    const seen: string[] = [];
    new EventStreamReader().push(codec.encode({ headers, body }), (frame) => {
      seen.push(`${frame.messageType}/${frame.eventType}`);
    });
    expect(seen).toEqual(["event/chunk"]);
  });

  it("reads error frames by their code and message headers", () => {
    const frame = codec.encode({
      headers: {
        ":message-type": { type: "string", value: "error" },
        ":error-code": { type: "string", value: "ThrottlingException" },
        ":error-message": { type: "string", value: "slow down" },
      },
      body: new Uint8Array(0),
    });
    const { sse, errors } = convert([frame]);
    expect(errors).toEqual(["ThrottlingException: slow down"]);
    expect(sse).toMatch(/^event: error\ndata: .*"rate_limit_error"/);
  });

  it("parses a payload written other than compactly (spaces, escaped slashes) as JSON", () => {
    const event = '{"type":"content_block_stop","index":0,"note":"???>>>"}';
    const base64 = Buffer.from(event).toString("base64");
    expect(base64).toContain("/");
    for (const payload of [
      `{ "bytes" : "${base64}" }`,
      `{"p":"xyz","bytes":"${base64.replaceAll("/", "\\/")}"}`,
    ]) {
      const frame = codec.encode({
        headers: {
          ":event-type": { type: "string", value: "chunk" },
          ":message-type": { type: "string", value: "event" },
        },
        body: fromUtf8(payload),
      });
      expect(convert([frame]).sse).toBe(`event: content_block_stop\ndata: ${event}\n\n`);
    }
  });
});
