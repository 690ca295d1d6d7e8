/**
 * Stream bodies the transport hands on that the recorder can watch without a stream layer of its
 * own: the transport's source streams (source-stream.ts) are observable from the start, and a body
 * the transport has to re-wrap (to peek at its first event for a retryable error) is made
 * observable by that wrapper. Recording a stream then costs its usage events and one write, not a
 * second pass-through stream (measured: about 20 us over 55 events).
 *
 * The end is reported before the reader sees it: a record written from `onEnd("complete")` is
 * durable before the caller reads the end of the stream.
 */
import { passThrough, type StreamEnd } from "./sse-tap.js";
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
const usages = new WeakMap<ReadableStream<Uint8Array>, StreamUsage>();

/** Says that `body`'s usage events are reported to `usage` as they pass (the event-stream converter's observer). */
export function markStreamUsage(body: ReadableStream<Uint8Array>, usage: StreamUsage): void {
  usages.set(body, usage);
}

/** The usage `body`'s events are reported to, when its maker said so. */
export function streamUsageOf(body: ReadableStream<Uint8Array> | null): StreamUsage | undefined {
  return body ? usages.get(body) : undefined;
}

/** What the maker of an observable body calls: each chunk as it is handed on, and how it ended. */
export interface ObservedHooks {
  passed(chunk: Uint8Array): void;
  end(how: StreamEnd): void;
}

/**
 * Hooks for a body about to be made, and `register` to make that body observable with
 * `observeBody` once it exists (a stream's `start` may hand on a chunk before its constructor
 * returns). The maker calls `passed` with each chunk before handing it on and `end` before the
 * reader sees the end. `usage` carries what the source's maker reports itself (see
 * `markStreamUsage`).
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
 * A body that hands on `first` (already read) and then the rest of `reader`, observable with
 * `observeBody`. `usage` carries over what the source's maker registered with `markStreamUsage`.
 */
export function observableBody(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  first: ReadableStreamReadResult<Uint8Array>,
  usage?: StreamUsage,
): ReadableStream<Uint8Array> {
  const hooks = observedHooks(usage);
  const body = passThrough(reader, hooks.passed, hooks.end, first);
  hooks.register(body);
  return body;
}

/**
 * Watches a body made by `observableBody` with the observer `watch` makes: given the stream's usage
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
