/**
 * Bedrock's binary event stream (Smithy "amazon-eventstream"), encode side.
 *
 * Framing, CRCs and header types come from `@smithy/eventstream-codec`, the codec the AWS SDK
 * itself decodes with: one implementation on both ends keeps the emulator byte-compatible.
 */
import { EventStreamCodec } from "@smithy/eventstream-codec";
import type { MessageHeaders } from "@smithy/types";
import { fromUtf8, toUtf8 } from "@smithy/util-utf8";

const codec = new EventStreamCodec(toUtf8, fromUtf8);

function stringHeaders(entries: Record<string, string>): MessageHeaders {
  const headers: MessageHeaders = {};
  for (const [name, value] of Object.entries(entries)) headers[name] = { type: "string", value };
  return headers;
}

/** One frame with a JSON payload. */
function encodeJson(headers: MessageHeaders, payload: unknown): Uint8Array {
  return codec.encode({ headers, body: fromUtf8(JSON.stringify(payload)) });
}

/** The same for every chunk: made once (the codec only reads them). */
const CHUNK_HEADERS = stringHeaders({
  ":event-type": "chunk",
  ":content-type": "application/json",
  ":message-type": "event",
});

/**
 * A `chunk` event as InvokeModelWithResponseStream sends it: the payload is
 * `{"bytes": base64(one Anthropic stream event JSON)}`, optionally with Bedrock's padding key `p`
 * (observed: a random-length run of letters that hides the size of the content; parsers ignore it).
 * Header order follows captures of the real service.
 */
export function encodeChunkEvent(anthropicEventJson: string, padding?: string): Uint8Array {
  const payload: Record<string, string> = {
    bytes: Buffer.from(anthropicEventJson, "utf8").toString("base64"),
  };
  if (padding) payload.p = padding;
  return encodeJson(CHUNK_HEADERS, payload);
}

/**
 * An event of a modelled event stream other than InvokeModel's (ConverseStream: `messageStart`,
 * `contentBlockDelta`, `metadata`, ...): the payload is the event structure itself as JSON, not
 * base64-wrapped, and `:event-type` names the union member. Bedrock pads these too (`p`).
 */
export function encodeEvent(eventType: string, payload: Record<string, unknown>): Uint8Array {
  return encodeJson(
    stringHeaders({
      ":event-type": eventType,
      ":content-type": "application/json",
      ":message-type": "event",
    }),
    payload,
  );
}

/**
 * A modelled exception inside the stream: `:exception-type` is the lower-camel member name of the
 * response stream union (`throttlingException`, `modelStreamErrorException`, ...).
 */
export function encodeExceptionEvent(exceptionName: string, body: Record<string, unknown>): Uint8Array {
  const member = exceptionName.charAt(0).toLowerCase() + exceptionName.slice(1);
  return encodeJson(
    stringHeaders({
      ":exception-type": member,
      ":content-type": "application/json",
      ":message-type": "exception",
    }),
    body,
  );
}

/** Decodes one complete frame (tests and tools; streaming decode lives with the transport). */
export function decodeFrame(frame: Uint8Array): { headers: Record<string, string>; body: string } {
  const message = codec.decode(frame);
  const headers: Record<string, string> = {};
  for (const [name, header] of Object.entries(message.headers)) headers[name] = String(header.value);
  return { headers, body: toUtf8(message.body) };
}
