/**
 * Watching Anthropic SSE for the events that carry usage (message_start, message_delta, error)
 * while leaving the bytes untouched. Only those events' data lines are parsed; chunks of text
 * deltas pass without being decoded.
 *
 * Two ways in: `observeBody` hooks into a body the transport made observable (no stream layer of
 * its own: the recorder's cost is the scan alone), and `sseTap` wraps any other body in a
 * pass-through stream (measured: a wrapper stream costs about 20 us over a 55-event stream).
 */
const WATCHED = /^event: (message_start|message_delta|error)$/;

export type StreamEnd = "complete" | "failed" | "cancelled";

export interface SseTapCallbacks {
  onEvent(type: string, data: Record<string, unknown>): void;
  /** The stream ended: it closed normally, the upstream failed, or the reader cancelled (a client that went away). */
  onEnd(end: StreamEnd): void;
}

/**
 * Whether a chunk that starts at a line and holds whole lines has a watched event line (`event:
 * message_start`, `event: message_delta`, `event: error`). Looks only at line starts, byte by byte:
 * measured about 80 ns for a text delta, against 400 ns for three `Buffer.includes`.
 */
function hasWatchedEvent(bytes: Uint8Array): boolean {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    // "event: " then "message_s…", "message_d…" or "error"
    if (bytes[i] === 0x65 && bytes[i + 5] === 0x3a && bytes[i + 6] === 0x20 && bytes[i + 1] === 0x76) {
      const c = bytes[i + 7];
      if (c === 0x65) return true;
      // message_start (s…a at 15 and 17, not message_stop) or message_delta (d at 15)
      if (c === 0x6d && ((bytes[i + 15] === 0x73 && bytes[i + 17] === 0x61) || bytes[i + 15] === 0x64))
        return true;
    }
    const newline = bytes.indexOf(0x0a, i);
    if (newline < 0) return true; // a line cut at the chunk's end: let the slow path see it
    i = newline + 1;
  }
  return false;
}

/** Reads SSE bytes chunk by chunk and reports the watched events, whole, whatever the chunking. */
export class SseScanner {
  private readonly decoder = new TextDecoder();
  private carry = "";
  private pending: string | null = null;

  constructor(private readonly onEvent: (type: string, data: Record<string, unknown>) => void) {}

  push(chunk: Uint8Array): void {
    // Fast path: a chunk of whole lines (ending in a newline, nothing carried over) with no watched
    // event is not decoded at all. Any other chunk is scanned, so a marker split across chunks
    // leaves its start in `carry` and the next chunk goes the slow way too.
    if (
      this.carry === "" &&
      this.pending === null &&
      chunk.length > 0 &&
      chunk[chunk.length - 1] === 0x0a &&
      !hasWatchedEvent(chunk)
    ) {
      return;
    }
    this.scan(this.decoder.decode(chunk, { stream: true }));
  }

  end(): void {
    this.scan(this.decoder.decode());
  }

  private scan(text: string): void {
    this.carry += text;
    let newline = this.carry.indexOf("\n");
    while (newline >= 0) {
      const line = this.carry.slice(0, newline).replace(/\r$/, "");
      this.carry = this.carry.slice(newline + 1);
      if (this.pending !== null && line.startsWith("data: ")) {
        try {
          this.onEvent(this.pending, JSON.parse(line.slice(6)) as Record<string, unknown>);
        } catch {
          // not JSON: nothing to account for
        }
        this.pending = null;
      } else {
        const match = WATCHED.exec(line);
        if (match) this.pending = match[1]!;
        else if (line === "") this.pending = null;
      }
      newline = this.carry.indexOf("\n");
    }
  }
}

/**
 * Returns `body` as it is, reporting usage events on the way and the end: complete when it closed
 * normally, incomplete when it failed or the reader cancelled (a client that went away).
 */
export function sseTap(
  body: ReadableStream<Uint8Array>,
  callbacks: SseTapCallbacks,
): ReadableStream<Uint8Array> {
  const scanner = new SseScanner((type, data) => callbacks.onEvent(type, data));
  const reader = body.getReader();
  let ended = false;
  const end = (how: StreamEnd) => {
    if (ended) return;
    ended = true;
    if (how === "complete") scanner.end();
    callbacks.onEnd(how);
  };
  return passThrough(reader, (chunk) => scanner.push(chunk), end);
}

/**
 * A stream that hands on `reader`'s chunks, `passed` seeing each first, and `end` told how it ended
 * (before the reader sees the end).
 */
function passThrough(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  passed: (chunk: Uint8Array) => void,
  end: (how: StreamEnd) => void,
): ReadableStream<Uint8Array> {
  const handOn = (
    result: ReadableStreamReadResult<Uint8Array>,
    controller: ReadableStreamDefaultController<Uint8Array>,
  ) => {
    if (result.done) {
      end("complete");
      controller.close();
    } else {
      passed(result.value);
      controller.enqueue(result.value);
    }
  };
  return new ReadableStream<Uint8Array>({
    // A promise chain rather than an async function: one promise fewer per chunk.
    pull(controller) {
      return reader.read().then(
        (result) => handOn(result, controller),
        (error: unknown) => {
          end("failed");
          controller.error(error);
        },
      );
    },
    cancel(reason) {
      end("cancelled");
      return reader.cancel(reason);
    },
  });
}
