import { describe, expect, it } from "vitest";
import { decodeFrame, encodeChunkEvent, encodeExceptionEvent } from "./event-stream.js";

// A 135-byte chunk frame carrying {"type":"message_stop"}, captured from the real service
// (bedrock-wire.md section 3).
const VECTOR =
  "000000870000004b87ea2bf30b3a6576656e742d747970650700056368756e6b0d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b226279746573223a2265794a306558426c496a6f696257567a6332466e5a56397a64473977496e303d227dba48ab22";

describe("event-stream encoding", () => {
  it("reproduces the captured chunk frame byte for byte", () => {
    const frame = encodeChunkEvent('{"type":"message_stop"}');
    expect(Buffer.from(frame).toString("hex")).toBe(VECTOR);
  });

  it("decodes the captured frame, and a corrupted copy fails its CRC", () => {
    const frame = Buffer.from(VECTOR, "hex");
    const { headers, body } = decodeFrame(frame);
    expect(headers[":event-type"]).toBe("chunk");
    expect(JSON.parse(Buffer.from(JSON.parse(body).bytes, "base64").toString())).toEqual({
      type: "message_stop",
    });
    const corrupted = Buffer.from(frame);
    corrupted[80] = (corrupted[80] ?? 0) ^ 0xff;
    expect(() => decodeFrame(corrupted)).toThrow(/checksum/i);
  });

  it("keeps Bedrock's padding key beside bytes", () => {
    const { body } = decodeFrame(encodeChunkEvent('{"type":"ping"}', "abcdef"));
    expect(JSON.parse(body)).toEqual({
      bytes: Buffer.from('{"type":"ping"}').toString("base64"),
      p: "abcdef",
    });
  });

  it("writes exceptions with the lower-camel member name", () => {
    const { headers, body } = decodeFrame(
      encodeExceptionEvent("ModelStreamErrorException", { message: "boom" }),
    );
    expect(headers[":message-type"]).toBe("exception");
    expect(headers[":exception-type"]).toBe("modelStreamErrorException");
    expect(JSON.parse(body)).toEqual({ message: "boom" });
  });
});
