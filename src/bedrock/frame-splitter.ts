/**
 * Splits a byte stream into whole event-stream frames by their `total_length` prelude. The codec
 * (`@smithy/eventstream-codec`) decodes one whole frame at a time and checks both CRCs; the
 * splitter the SDK uses for this is internal to `@smithy/eventstream-serde-universal`, so this
 * small piece is ours.
 */
const PRELUDE_BYTES = 12;
/** Bedrock's limits: 24 MiB payload plus 128 KiB of headers, plus framing. */
const MAX_FRAME_BYTES = 24 * 1024 * 1024 + 128 * 1024 + 16;

export class FrameSplitter {
  private buffer: Uint8Array = new Uint8Array(0);

  /** Adds bytes; returns every frame now complete, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    this.buffer = this.buffer.length === 0 ? chunk : concat(this.buffer, chunk);
    const frames: Uint8Array[] = [];
    let offset = 0;
    while (this.buffer.length - offset >= PRELUDE_BYTES) {
      const view = new DataView(this.buffer.buffer, this.buffer.byteOffset + offset, 4);
      const length = view.getUint32(0, false);
      if (length < 16 || length > MAX_FRAME_BYTES) {
        throw new Error(`Invalid event-stream frame length ${length}`);
      }
      if (this.buffer.length - offset < length) break;
      frames.push(this.buffer.subarray(offset, offset + length));
      offset += length;
    }
    this.buffer = offset === 0 ? this.buffer : this.buffer.slice(offset);
    return frames;
  }

  /** Throws when the stream ended inside a frame. */
  end(): void {
    if (this.buffer.length > 0) {
      throw new Error(`Event stream ended inside a frame (${this.buffer.length} bytes left over)`);
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
