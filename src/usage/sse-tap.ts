/**
 * A pass-through TransformStream over Anthropic SSE that watches the events that carry usage
 * (message_start, message_delta, error) and leaves the bytes untouched. Only those events' data
 * lines are parsed; text deltas pass without being read.
 */
const WATCHED = /^event: (message_start|message_delta|error)$/;
/** The same names as bytes: a chunk holding none of them (text deltas) is passed on unread. */
const MARKERS = ["event: message_start", "event: message_delta", "event: error"].map((m) => Buffer.from(m));

export interface SseTapCallbacks {
  onEvent(type: string, data: Record<string, unknown>): void;
  /** The stream ended: it closed normally, the upstream failed, or the reader cancelled (a client that went away). */
  onEnd(end: "complete" | "failed" | "cancelled"): void;
}

/**
 * Returns `body` as it is, reporting usage events on the way and the end: complete when it closed
 * normally, incomplete when it failed or the reader cancelled (a client that went away).
 */
export function sseTap(
  body: ReadableStream<Uint8Array>,
  callbacks: SseTapCallbacks,
): ReadableStream<Uint8Array> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let carry = "";
  let pending: string | null = null;
  let ended = false;
  const end = (how: "complete" | "failed" | "cancelled") => {
    if (ended) return;
    ended = true;
    callbacks.onEnd(how);
  };
  const scan = (text: string) => {
    carry += text;
    let newline = carry.indexOf("\n");
    while (newline >= 0) {
      const line = carry.slice(0, newline).replace(/\r$/, "");
      carry = carry.slice(newline + 1);
      if (pending !== null && line.startsWith("data: ")) {
        try {
          callbacks.onEvent(pending, JSON.parse(line.slice(6)) as Record<string, unknown>);
        } catch {
          // not JSON: nothing to account for
        }
        pending = null;
      } else {
        const match = WATCHED.exec(line);
        if (match) pending = match[1]!;
        else if (line === "") pending = null;
      }
      newline = carry.indexOf("\n");
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (error) {
        end("failed");
        controller.error(error);
        return;
      }
      if (result.done) {
        scan(decoder.decode());
        end("complete");
        controller.close();
        return;
      }
      // Fast path: a chunk of whole lines (ending in a newline, nothing carried over) with no
      // watched event is not decoded at all. Any other chunk is scanned, so a marker split across
      // chunks leaves its start in `carry` and the next chunk goes the slow way too.
      const bytes = Buffer.from(result.value.buffer, result.value.byteOffset, result.value.byteLength);
      const wholeLines = bytes.length > 0 && bytes[bytes.length - 1] === 0x0a;
      if (carry === "" && pending === null && wholeLines && !MARKERS.some((m) => bytes.includes(m))) {
        controller.enqueue(result.value);
        return;
      }
      scan(decoder.decode(result.value, { stream: true }));
      controller.enqueue(result.value);
    },
    async cancel(reason) {
      end("cancelled");
      await reader.cancel(reason);
    },
  });
}
