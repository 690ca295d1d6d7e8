/**
 * Stream bodies the transport hands on that the recorder can watch without a stream layer of its
 * own: every stream the transport hands on is a source stream (source-stream.ts), observable from
 * the start. Recording a stream then costs its usage events and one write, not a second
 * pass-through stream (measured: about 20 us over 55 events).
 *
 * The end is reported before the reader sees it: a record written from `onEnd("complete")` is
 * durable before the caller reads the end of the stream.
 */
import type { StreamEnd } from "./sse-tap.js";
import type { StreamUsage } from "./usage.js";

export interface BodyObserver {
  /** Each chunk, before it is handed on (not given when the stream's usage is already reported). */
  onChunk?(chunk: Uint8Array): void;
  onEnd(how: StreamEnd): void;
}

interface Slot {
  observer?: BodyObserver;
  /** Chunks handed on before an observer came (the one read to peek); undefined once too many. */
  early: Uint8Array[] | undefined;
  ended?: StreamEnd;
  usage?: StreamUsage;
}

/** More chunks than this pulled before anyone observes: the body is left unobservable. */
const EARLY_LIMIT = 16;

const slots = new WeakMap<ReadableStream<Uint8Array>, Slot>();
/** What the maker of an observable body calls: each chunk as it is handed on, and how it ended. */
export interface ObservedHooks {
  passed(chunk: Uint8Array): void;
  end(how: StreamEnd): void;
}

/**
 * Hooks for a body about to be made, and `register` to make that body observable with
 * `observeBody` once it exists (a stream's `start` may hand on a chunk before its constructor
 * returns). The maker calls `passed` with each chunk before handing it on and `end` before the
 * reader sees the end. `usage` carries what the source's maker reports itself (the event-stream
 * converter's usage events): then no chunks are given to the observer.
 */
export function observedHooks(
  usage?: StreamUsage,
): ObservedHooks & { register(body: ReadableStream<Uint8Array>): void } {
  const slot: Slot = { early: [], usage };
  return {
    passed(chunk) {
      if (slot.observer) {
        if (!slot.usage) slot.observer.onChunk?.(chunk);
      } else if (slot.early && !slot.usage) {
        slot.early.push(chunk);
        if (slot.early.length > EARLY_LIMIT) slot.early = undefined;
      }
    },
    end(how) {
      if (slot.ended) return;
      slot.ended = how;
      slot.observer?.onEnd(how);
    },
    register(body) {
      slots.set(body, slot);
    },
  };
}

/**
 * Watches a body made observable (`observedHooks`) with the observer `watch` makes: given the stream's usage
 * when it is already being reported (then no chunks are given), else undefined (then the chunks
 * that already passed are given at once, and each as it passes). Returns false when `body` cannot
 * be watched this way (not made so, already watched, or read too far): the caller wraps it instead.
 */
export function observeBody(
  body: ReadableStream<Uint8Array> | null,
  watch: (usage: StreamUsage | undefined) => BodyObserver,
): boolean {
  const slot = body ? slots.get(body) : undefined;
  if (!slot || slot.observer || !slot.early) return false;
  const early = slot.early;
  slot.early = undefined;
  const observer = watch(slot.usage);
  slot.observer = observer;
  if (!slot.usage) for (const chunk of early) observer.onChunk?.(chunk);
  if (slot.ended) observer.onEnd(slot.ended);
  return true;
}
