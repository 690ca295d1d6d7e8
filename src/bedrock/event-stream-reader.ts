/**
 * Reads Bedrock's binary event stream (Smithy "amazon-eventstream") frame by frame, in place:
 * whole frames are cut from the bytes as they arrive (a frame split across chunks waits for the
 * rest), both CRCs are checked, and only the headers a reader of InvokeModel's stream needs are
 * decoded.
 *
 * Hand-written rather than `@smithy/eventstream-codec`'s `decode()` (which the emulator still
 * encodes with, and the tests decode with): that decoder builds an object per header, a string
 * per header name and value and several views per frame. Measured with V8's allocation sampling
 * on 1,000 concurrent 1,000-event streams through the gateway, it was about 40% of everything the
 * gateway allocated per event, and that garbage is most of what the gateway's RSS held above its
 * live set (bench/RESULTS.md, gateway). Frame layout, from the Smithy spec: total length (u32),
 * headers length (u32), prelude CRC32 (u32), headers, payload, message CRC32 (u32); each header is
 * a name length (u8), the name, a type (u8) and a value whose size the type gives.
 */
import { Crc32 } from "@smithy/core/checksum";

/** Bedrock's limits: 24 MiB payload plus 128 KiB of headers, plus framing. */
const MAX_FRAME_BYTES = 24 * 1024 * 1024 + 128 * 1024 + 16;
const PRELUDE_BYTES = 12;
const MIN_FRAME_BYTES = 16;

const ascii = (text: string) => Buffer.from(text, "latin1");
const MESSAGE_TYPE = ascii(":message-type");
const EVENT_TYPE = ascii(":event-type");
const EXCEPTION_TYPE = ascii(":exception-type");
const ERROR_CODE = ascii(":error-code");
const ERROR_MESSAGE = ascii(":error-message");
const EVENT = ascii("event");
const CHUNK = ascii("chunk");

/** One frame as read; the same object is reused for every frame (read it inside the callback). */
export interface Frame {
  /** `event`, `exception` or `error` (another value as it came). */
  messageType: string | undefined;
  /** `:event-type` (`chunk` for InvokeModel's events). */
  eventType: string | undefined;
  /** `:exception-type` of an exception frame. */
  exceptionType: string | undefined;
  /** `:error-code` and `:error-message` of an error frame. */
  errorCode: string | undefined;
  errorMessage: string | undefined;
  /** The bytes the payload lies in, and where. */
  bytes: Buffer;
  payloadStart: number;
  payloadEnd: number;
}

function equals(bytes: Buffer, start: number, length: number, expected: Buffer): boolean {
  if (length !== expected.length) return false;
  for (let i = 0; i < length; i++) if (bytes[start + i] !== expected[i]) return false;
  return true;
}

/** Bytes taken by a header value of `type` at `at` (its length prefix included). */
function valueBytes(bytes: Buffer, type: number, at: number): number {
  switch (type) {
    case 0:
    case 1:
      return 0;
    case 2:
      return 1;
    case 3:
      return 2;
    case 4:
      return 4;
    case 5:
    case 8:
      return 8;
    case 6:
    case 7:
      return 2 + bytes.readUInt16BE(at);
    case 9:
      return 16;
    default:
      throw new Error(`Unknown event-stream header type ${type}`);
  }
}

export class EventStreamReader {
  private pending: Buffer | undefined;
  private readonly crc = new Crc32();
  private readonly frame: Frame = {
    messageType: undefined,
    eventType: undefined,
    exceptionType: undefined,
    errorCode: undefined,
    errorMessage: undefined,
    bytes: Buffer.alloc(0),
    payloadStart: 0,
    payloadEnd: 0,
  };

  /** Adds bytes and calls `onFrame` for every frame now whole, in order. Throws on a corrupted frame. */
  push(chunk: Uint8Array, onFrame: (frame: Frame) => void): void {
    let bytes = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.pending) {
      bytes = Buffer.concat([this.pending, bytes]);
      this.pending = undefined;
    }
    let offset = 0;
    while (bytes.length - offset >= PRELUDE_BYTES) {
      const total = bytes.readUInt32BE(offset);
      if (total < MIN_FRAME_BYTES || total > MAX_FRAME_BYTES) {
        throw new Error(`Invalid event-stream frame length ${total}`);
      }
      if (bytes.length - offset < total) break;
      this.read(bytes, offset, total);
      onFrame(this.frame);
      offset += total;
    }
    // A partial frame is copied: a view would keep the whole chunk it came in alive.
    if (offset < bytes.length) this.pending = Buffer.from(bytes.subarray(offset));
  }

  /** Throws when the stream ended inside a frame. */
  end(): void {
    if (this.pending) {
      throw new Error(`Event stream ended inside a frame (${this.pending.length} bytes left over)`);
    }
  }

  private read(bytes: Buffer, start: number, total: number): void {
    const headersLength = bytes.readUInt32BE(start + 4);
    if (headersLength > total - MIN_FRAME_BYTES) {
      throw new Error(`Invalid event-stream headers length ${headersLength}`);
    }
    const crc = this.crc;
    crc.reset();
    crc.update(bytes.subarray(start, start + 8));
    if (crc.digestSync() !== bytes.readUInt32BE(start + 8)) {
      throw new Error("The event-stream prelude checksum does not match its CRC32");
    }
    crc.update(bytes.subarray(start + 8, start + total - 4));
    if (crc.digestSync() !== bytes.readUInt32BE(start + total - 4)) {
      throw new Error("The event-stream message checksum does not match its CRC32");
    }
    const frame = this.frame;
    frame.messageType =
      frame.eventType =
      frame.exceptionType =
      frame.errorCode =
      frame.errorMessage =
        undefined;
    frame.bytes = bytes;
    frame.payloadStart = start + PRELUDE_BYTES + headersLength;
    frame.payloadEnd = start + total - 4;
    let at = start + PRELUDE_BYTES;
    const headersEnd = frame.payloadStart;
    while (at < headersEnd) {
      const nameLength = bytes[at]!;
      const name = at + 1;
      const type = bytes[name + nameLength]!;
      const value = name + nameLength + 1;
      const size = valueBytes(bytes, type, value);
      if (value + size > headersEnd) throw new Error("An event-stream header runs past the headers");
      if (type === 7) {
        const text = value + 2;
        const length = size - 2;
        if (equals(bytes, name, nameLength, MESSAGE_TYPE)) {
          frame.messageType = equals(bytes, text, length, EVENT)
            ? "event"
            : bytes.toString("utf8", text, text + length);
        } else if (equals(bytes, name, nameLength, EVENT_TYPE)) {
          frame.eventType = equals(bytes, text, length, CHUNK)
            ? "chunk"
            : bytes.toString("utf8", text, text + length);
        } else if (equals(bytes, name, nameLength, EXCEPTION_TYPE)) {
          frame.exceptionType = bytes.toString("utf8", text, text + length);
        } else if (equals(bytes, name, nameLength, ERROR_CODE)) {
          frame.errorCode = bytes.toString("utf8", text, text + length);
        } else if (equals(bytes, name, nameLength, ERROR_MESSAGE)) {
          frame.errorMessage = bytes.toString("utf8", text, text + length);
        }
      }
      at = value + size;
    }
  }
}
