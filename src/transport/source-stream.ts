/**
 * The web body the transport hands on for a streamed answer, made directly over the upstream's
 * Node stream (undici's body). It is the only stream layer between the upstream socket and the
 * reader: it converts each chunk as it arrives (Bedrock's event stream to SSE, or nothing), can be
 * peeked at for its first chunk (the retry decision) without being read, and is observable by the
 * ledger (`observeBody`). It replaces four layers (`Readable.toWeb`, the converter's
 * TransformStream, a replay stream for the peek, the gateway's ping insertion): measured on
 * 1,000-event streams through the gateway, web-stream machinery was most of the gateway's CPU per
 * event and most of its garbage with 1,000 streams open (bench/RESULTS.md, gateway).
 *
 * It is lazy: nothing flows until it is read or peeked, so a caller can still take the Node stream
 * itself (`takeNodeStream`) to make a stream of its own over it. Backpressure is the reader's: the
 * Node stream is paused while a chunk waits unread.
 */
import { Readable } from "node:stream";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { observedHooks } from "../usage/observed-body.js";
import type { StreamEnd } from "../usage/sse-tap.js";
import type { StreamUsage } from "../usage/usage.js";

/**
 * A synchronous conversion run on each chunk: returns the text the chunk completed (none: nothing
 * yet). Text rather than bytes: everything converted in one turn is encoded once.
 */
export interface ChunkConverter {
  push(chunk: Uint8Array): string | undefined;
  /** The source ended; throws when it ended mid-message. */
  end(): void;
}

export interface SourceOptions {
  convert?: ChunkConverter;
  /** The stream's usage, when the converter reports it (the recorder then reads no chunks). */
  usage?: StreamUsage;
}

interface Source {
  readable: Readable;
  begin(): void;
  begun: boolean;
  taken: boolean;
  /** The first chunk handed on, once there is one. */
  first?: Uint8Array;
  ended?: { how: StreamEnd; error?: unknown };
  /** Peekers waiting for the first chunk (undefined: at the end without one; rejected: failed). */
  waiting?: { resolve(chunk: Uint8Array | undefined): void; reject(error: unknown): void }[];
}

const sources = new WeakMap<ReadableStream<Uint8Array>, Source>();

export function sourceStream(readable: Readable, options: SourceOptions = {}): ReadableStream<Uint8Array> {
  const { convert } = options;
  const hooks = observedHooks(options.usage);
  let controller!: ReadableStreamDefaultController<Uint8Array>;

  const settleWaiting = (source: Source) => {
    const waiting = source.waiting;
    if (!waiting) return;
    source.waiting = undefined;
    for (const w of waiting) {
      if (source.first) w.resolve(source.first);
      else if (source.ended?.how === "failed") w.reject(source.ended.error);
      else w.resolve(undefined);
    }
  };
  const finish = (how: StreamEnd, error?: unknown) => {
    if (source.ended) return;
    if (how === "complete") flush();
    source.ended = { how, error };
    readable.off("data", onData);
    readable.off("end", onEnd);
    readable.off("close", onClose);
    // The ledger's record is written here, before the reader sees the end.
    hooks.end(how);
    settleWaiting(source);
    if (how === "complete") controller.close();
    else if (how === "failed") controller.error(error);
  };
  // What arrived in this turn of the event loop, handed on as one chunk at its end. undici pushes
  // each HTTP chunk (one Bedrock event) separately; one chunk per socket read instead of one per
  // event means one read and one write downstream per read upstream (measured: writes per
  // 1,000-event stream through the gateway went from about 550 to about 10).
  let texts: string[] = [];
  let bytes: Uint8Array[] = [];
  let flushQueued = false;
  const flush = () => {
    flushQueued = false;
    let out: Uint8Array | undefined;
    if (texts.length > 0) {
      out = Buffer.from(texts.length === 1 ? texts[0]! : texts.join(""));
      texts = [];
    } else if (bytes.length > 0) {
      out = bytes.length === 1 ? bytes[0]! : Buffer.concat(bytes);
      bytes = [];
    }
    if (!out || source.ended) return;
    hooks.passed(out);
    if (!source.first) {
      source.first = out;
      settleWaiting(source);
    }
    controller.enqueue(out);
    // More than one chunk waiting unread: stop reading upstream until the reader catches up.
    if ((controller.desiredSize ?? 0) < -1) readable.pause();
  };
  const onData = (chunk: Uint8Array) => {
    if (convert) {
      let text: string | undefined;
      try {
        text = convert.push(chunk);
      } catch (error) {
        readable.destroy();
        finish("failed", error);
        return;
      }
      if (!text) return;
      texts.push(text);
    } else {
      if (chunk.length === 0) return;
      bytes.push(chunk);
    }
    if (!flushQueued) {
      flushQueued = true;
      process.nextTick(flush);
    }
  };
  const onEnd = () => {
    try {
      convert?.end();
    } catch (error) {
      finish("failed", error);
      return;
    }
    finish("complete");
  };
  const onError = (error: unknown) => finish("failed", error);
  // Closed without an end or an error: the connection went before the answer was complete.
  const onClose = () => finish("failed", new Error("the upstream connection closed before the answer ended"));

  const source: Source = {
    readable,
    begun: false,
    taken: false,
    begin() {
      if (source.begun) return;
      source.begun = true;
      readable.on("data", onData);
      readable.on("end", onEnd);
      readable.on("error", onError);
      readable.on("close", onClose);
    },
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      pull() {
        if (source.taken) {
          controller.error(new Error("this body's source was taken by another reader"));
          return;
        }
        source.begin();
        if (readable.isPaused()) readable.resume();
      },
      cancel() {
        finish("cancelled");
        readable.destroy();
      },
    },
    // No chunk is asked for before a read: the stream stays lazy (see takeNodeStream).
    { highWaterMark: 0 },
  );
  sources.set(body, source);
  hooks.register(body);
  return body;
}

/**
 * The first chunk `body` hands on, without reading it (it stays first for the reader); undefined
 * when the stream ended without one; rejects when it failed first. Undefined (not a promise) when
 * `body` is not a source stream.
 */
export function peekFirstChunk(
  body: ReadableStream<Uint8Array> | null,
): Promise<Uint8Array | undefined> | undefined {
  const source = body ? sources.get(body) : undefined;
  if (!source || source.taken) return undefined;
  if (source.first) return Promise.resolve(source.first);
  if (source.ended) {
    return source.ended.how === "failed" ? Promise.reject(source.ended.error) : Promise.resolve(undefined);
  }
  source.begin();
  return new Promise((resolve, reject) => {
    source.waiting ??= [];
    source.waiting.push({ resolve, reject });
  });
}

/**
 * `body` as a source stream: itself when it is one (the upstream client's), else a source stream
 * over it (a body from a custom upstream client), so that every stream the transport hands on can
 * be peeked at and observed the same way.
 */
export function asSourceStream(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  return sources.has(body) ? body : sourceStream(Readable.fromWeb(body as NodeReadableStream<Uint8Array>));
}

/**
 * The Node stream under `body` for a caller that makes its own source stream over it (the
 * event-stream converter): the upstream client's own Node stream when nothing has read or peeked
 * the body yet (the web body is then unusable), else a Node stream over the web body.
 */
export function nodeStreamOf(body: ReadableStream<Uint8Array>): Readable {
  return takeNodeStream(body) ?? Readable.fromWeb(body as NodeReadableStream<Uint8Array>);
}

/**
 * The Node stream under a source stream that nothing has read or peeked yet, for a caller that
 * makes its own stream over it (the event-stream converter); the web body is then unusable.
 * Undefined when `body` is not such a stream.
 */
export function takeNodeStream(body: ReadableStream<Uint8Array> | null): Readable | undefined {
  const source = body ? sources.get(body) : undefined;
  if (!source || source.begun || source.taken) return undefined;
  source.taken = true;
  return source.readable;
}
