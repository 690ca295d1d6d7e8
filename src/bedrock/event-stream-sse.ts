/**
 * Bedrock's binary event stream turned into the Anthropic API's SSE: each
 * `chunk` frame's base64 payload is one Anthropic stream event and becomes one SSE frame; a
 * modelled exception frame becomes an SSE `error` event in Anthropic's words. Partial frames wait
 * for their rest; a corrupted frame (CRC mismatch) fails the stream loudly.
 */
import { anthropicErrorBody } from "../anthropic/errors.js";
import { anthropicTypeForAws, describeAwsError } from "./errors.js";
import { EventStreamReader, type Frame } from "./event-stream-reader.js";
import { BEDROCK_EXCEPTION_STATUS, isBedrockExceptionName } from "./exceptions.js";

/** The events an observer is told of, parsed. */
const USAGE_EVENTS = new Set(["message_start", "message_delta", "message_stop"]);

/** What passed through a stream, for callers that account for it (the ledger). */
export interface StreamObserver {
  /** The events that carry usage or end the message: message_start, message_delta, message_stop. */
  onEvent?(event: { type: string; data: Record<string, unknown> }): void;
  onError?(error: { name: string; message: string }): void;
}

function exceptionName(member: string): string {
  return member.charAt(0).toUpperCase() + member.slice(1);
}

function sseError(name: string, message: string, requestId: string | undefined): string {
  const status = isBedrockExceptionName(name) ? BEDROCK_EXCEPTION_STATUS[name] : 500;
  const type = anthropicTypeForAws({ name, status });
  const body = anthropicErrorBody(type, describeAwsError({ name, message, status, requestId }), requestId);
  return `event: error\ndata: ${JSON.stringify(body)}\n\n`;
}

/** The Anthropic API's keep-alive, which it sends once the first content block has started. */
const PING_FRAME = 'event: ping\ndata: {"type":"ping"}\n\n';

/**
 * The conversion itself, chunk by chunk and synchronous, so that it can run inside whatever stream
 * carries the bytes (the transport runs it inside the one stream it makes over the upstream body,
 * rather than as a stream layer of its own). `push` returns the SSE text the chunk completed, if
 * any: the caller encodes all it gathers in one turn at once (measured: one chunk per event cost
 * about 20% of the converter's time on a 55-event stream).
 *
 * Bedrock's event stream has no keep-alives; the Anthropic API sends a `ping` after the first
 * `content_block_start`, and so does this, so that every door serves the API's framing.
 */
export class EventStreamToSse {
  private readonly reader = new EventStreamReader();
  private readonly onFrame = (frame: Frame) => this.convert(frame);
  private out = "";
  private pinged = false;

  constructor(
    private readonly requestId?: string,
    private readonly observer?: StreamObserver,
  ) {}

  /** The SSE text `chunk` completed. Throws on a corrupted frame (CRC mismatch) or an impossible frame length. */
  push(chunk: Uint8Array): string | undefined {
    this.out = "";
    this.reader.push(chunk, this.onFrame);
    return this.out || undefined;
  }

  /** Throws when the stream ended inside a frame. */
  end(): void {
    this.reader.end();
  }

  private convert(frame: Frame): void {
    const { observer, requestId } = this;
    if (frame.messageType === "event") {
      if (frame.eventType !== "chunk") return;
      const json = chunkJson(frame);
      if (json === undefined) return;
      // Most events are deltas that nobody here needs to read: when the type leads the compact
      // JSON (as Bedrock writes it), they pass as they came, without a parse and a re-serialise
      // (measured: two of the larger allocations per event, on 1,000-event streams).
      const lead = leadingType(json);
      if (lead !== undefined && !USAGE_EVENTS.has(lead) && !json.includes("\n")) {
        this.out += `event: ${lead}\ndata: ${json}\n\n`;
        if (!this.pinged && lead === "content_block_start") this.ping();
        return;
      }
      const data = JSON.parse(json) as Record<string, unknown>;
      const type = typeof data.type === "string" ? data.type : undefined;
      // Frames without a type (keep-alives) have no SSE event name: skip them.
      if (!type) return;
      if (USAGE_EVENTS.has(type)) observer?.onEvent?.({ type, data });
      // Re-serialise: the payload must be one line for SSE's `data:` framing.
      this.out += `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
      if (!this.pinged && type === "content_block_start") this.ping();
    } else if (frame.messageType === "exception") {
      const name = exceptionName(frame.exceptionType ?? "InternalServerException");
      let text = frame.bytes.toString("utf8", frame.payloadStart, frame.payloadEnd);
      try {
        const parsed = JSON.parse(text) as { message?: string; Message?: string };
        text = parsed.message ?? parsed.Message ?? text;
      } catch {
        // keep the raw text
      }
      observer?.onError?.({ name, message: text });
      this.out += sseError(name, text, requestId);
    } else if (frame.messageType === "error") {
      const name = frame.errorCode ?? "InternalServerException";
      const text = frame.errorMessage ?? "Bedrock stream error";
      observer?.onError?.({ name, message: text });
      this.out += sseError(name, text, requestId);
    }
  }

  private ping(): void {
    this.pinged = true;
    this.out += PING_FRAME;
  }
}

const BYTES_MEMBER = Buffer.from('"bytes":"', "latin1");
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The Anthropic event a `chunk` frame carries: its payload is `{"bytes":"<base64>"}` (with
 * Bedrock's padding member `p` beside it). The base64 is found in place when it is written
 * compactly and unescaped, as Bedrock writes it; any other payload is parsed as JSON.
 */
function chunkJson(frame: Frame): string | undefined {
  const { bytes, payloadStart, payloadEnd } = frame;
  const at = bytes.indexOf(BYTES_MEMBER, payloadStart);
  if (at >= 0 && at < payloadEnd) {
    const from = at + BYTES_MEMBER.length;
    const to = bytes.indexOf(QUOTE, from);
    if (to >= 0 && to < payloadEnd) {
      const backslash = bytes.indexOf(BACKSLASH, from);
      if (backslash < 0 || backslash > to) {
        return Buffer.from(bytes.toString("latin1", from, to), "base64").toString("utf8");
      }
    }
  }
  const payload = JSON.parse(bytes.toString("utf8", payloadStart, payloadEnd)) as { bytes?: unknown };
  return typeof payload.bytes === "string"
    ? Buffer.from(payload.bytes, "base64").toString("utf8")
    : undefined;
}

const TYPE_PREFIX = '{"type":"';

/** `{"type":"content_block_delta",...`: the event type, when it is the first member. */
function leadingType(json: string): string | undefined {
  if (!json.startsWith(TYPE_PREFIX)) return undefined;
  const end = json.indexOf('"', TYPE_PREFIX.length);
  if (end <= TYPE_PREFIX.length) return undefined;
  const type = json.slice(TYPE_PREFIX.length, end);
  // An escaped quote inside the type: leave it to the parser.
  return type.includes("\\") ? undefined : type;
}
