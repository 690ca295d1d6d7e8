/**
 * Feeds the ledger from the transport: once a request's usage is known (the JSON answer read, the
 * stream ended, the error returned), one record with its attempts is written, before the caller
 * sees the end of the answer. Recording never fails a request: a store error is reported once.
 */
import { randomBytes } from "node:crypto";
import type { ModelCatalog, ModelEntry } from "../models/catalog.js";
import { findModel } from "../models/resolve.js";
import type { AttemptRecord } from "../transport/resilient.js";
import type { Target } from "../transport/target.js";
import { headerOf, wholeBodyOf } from "../transport/upstream.js";
import type { LedgerAttempt, LedgerRequest, LedgerStore } from "./ledger.js";
import { observeBody } from "./observed-body.js";
import { costOf, endpointKind, type Price, type PriceBook } from "./prices.js";
import { SseScanner, type StreamEnd, sseTap } from "./sse-tap.js";
import {
  type MessageEnd,
  messageEnd,
  NO_USAGE,
  StreamUsage,
  stopReasonAtEnd,
  type Usage,
  usageFrom,
  usageFromHeaders,
} from "./usage.js";

const decoder = new TextDecoder();

export interface RecorderOptions {
  /** Where records go; without one (ledger off) they are still built, for budgets. */
  store?: LedgerStore;
  prices: PriceBook;
  catalog: ModelCatalog;
  /** Default application tag for this client. */
  tag?: string;
  warn: (message: string) => void;
  /** Called after each write (the budget tracker counts spend here). */
  onRecord?: (entry: LedgerRequest) => void;
}

export interface RequestContext {
  startedAt: number;
  chain: Target[];
  modelRequested: string;
  stream: boolean;
  attempts: AttemptRecord[];
  /** Request headers (tag and key). */
  headers: Map<string, string>;
  /** Called once the request is recorded (budgets swap their reservation for the real cost). */
  onRecorded?: (entry: LedgerRequest) => void;
}

/**
 * A request id that sorts by time (like UUIDv7: milliseconds first, then randomness): inserts land
 * at the end of the ledger's primary-key index instead of at random pages (measured: a record into
 * a 1M-row ledger costs about half as much).
 */
export function timeOrderedId(time: number): string {
  // 80 bits after the time: 48 random per process (drawn again when the counter wraps) and a
  // 32-bit counter. Unique within a process, and across processes as random ids are; one
  // randomBytes() per 4 billion ids instead of one per id (measured: about 2 us each).
  if (idCounter >= 0xffffffff) {
    idPrefix = randomBytes(6).toString("hex");
    idCounter = 0;
  }
  idCounter++;
  if (time !== idTime) {
    // In two 24-bit halves: small integers print in hex on V8's fast path, a millisecond time (a
    // double) on its slow one (in a CPU profile of streams through createClient: about 3 us an id).
    idTime = time;
    idTimeHex = hex(Math.floor(time / 0x1000000), 6) + hex(time % 0x1000000, 6);
  }
  return `${idTimeHex}-${idPrefix}${hex(idCounter >>> 16, 4)}${hex(idCounter & 0xffff, 4)}`;
}

function hex(value: number, digits: number): string {
  return value.toString(16).padStart(digits, "0");
}

let idPrefix = randomBytes(6).toString("hex");
let idCounter = 0;
let idTime = -1;
let idTimeHex = "";

/** Headers by which a caller (the gateway) names the key and tag of a request. */
export const TAG_HEADER = "x-bedrock-claude-tag";
export const KEY_HEADER = "x-bedrock-claude-key";
/** The id a caller (the gateway) gives a request: the ledger records it under that id, so logs and answers correlate. */
export const REQUEST_ID_HEADER = "x-bedrock-claude-request-id";

/** What a request's model and target decide: the catalog entry and the price, before and from extended access. */
interface Pricing {
  entry: ModelEntry | undefined;
  /** ms since the epoch from which the model is in extended access (Infinity: never). */
  extendedFrom: number;
  price: Price | undefined;
  extendedPrice: Price | undefined;
}

/** How a request ended, beyond its answer: the parts of a record that `finish` knows. */
interface Outcome {
  usage: Usage;
  errorName: string | null;
  stopReason: string | null;
  partial: boolean;
  firstByteMs: number | null;
}

export class UsageRecorder {
  private failed = false;
  /**
   * Pricing by target, then by model resolved (or, when none was, by model asked): the catalog and
   * price look-ups once per combination, found without building a key (the model string's hash is
   * cached by V8; a joined key is a new string to hash each time).
   */
  private readonly pricings = new WeakMap<Target, Map<string, Pricing>>();

  constructor(private readonly options: RecorderOptions) {}

  /** The tag a request is recorded (and budgeted) under. */
  tagOf(headers: Map<string, string>): string | null {
    return headers.get(TAG_HEADER) ?? this.options.tag ?? null;
  }

  /** Builds the request's record and writes it. */
  private write(ctx: RequestContext, response: Response | undefined, outcome: Outcome): void {
    const entry = this.build(ctx, response, outcome);
    ctx.onRecorded?.(entry);
    try {
      this.options.store?.record(entry);
      this.options.onRecord?.(entry);
    } catch (error) {
      if (!this.failed) {
        this.failed = true;
        this.options.warn(`bedrock-claude: could not write the usage ledger: ${(error as Error).message}`);
      }
    }
  }

  private pricing(target: Target, asked: string, modelResolved: string | null): Pricing {
    let byModel = this.pricings.get(target);
    if (!byModel) {
      byModel = new Map();
      this.pricings.set(target, byModel);
    }
    // `asked` is the resolved id whenever there is one; an unresolved one is kept apart by a mark.
    const key = modelResolved === null ? `\0${asked}` : modelResolved;
    let pricing = byModel.get(key);
    if (pricing) return pricing;
    // ARNs of inference profiles and foundation models name a catalog model too.
    const entry =
      findModel(this.options.catalog, asked) ??
      this.options.catalog.resolveModelId(asked, target.region)?.model;
    const from = entry?.lifecycle.publicExtendedAccessFrom;
    const extendedFrom =
      target.provider !== "anthropic" && from ? Date.parse(from) : Number.POSITIVE_INFINITY;
    const name = entry?.anthropicName;
    pricing = {
      entry,
      extendedFrom,
      price: this.options.prices.priceFor(
        name,
        endpointKind(target.provider, modelResolved, entry, new Date(-8.64e15)),
      ),
      extendedPrice: Number.isFinite(extendedFrom)
        ? this.options.prices.priceFor(
            name,
            endpointKind(target.provider, modelResolved, entry, new Date(extendedFrom)),
          )
        : undefined,
    };
    if (byModel.size >= 1_000) byModel.clear();
    byModel.set(key, pricing);
    return pricing;
  }

  private build(ctx: RequestContext, response: Response | undefined, outcome: Outcome): LedgerRequest {
    const attemptsMade = ctx.attempts;
    let served: AttemptRecord | undefined;
    for (let i = attemptsMade.length - 1; i >= 0; i--) {
      if (attemptsMade[i]!.verdict === "success") {
        served = attemptsMade[i];
        break;
      }
    }
    served ??= attemptsMade[attemptsMade.length - 1];
    const target = ctx.chain.find((t) => t.name === served?.target) ?? ctx.chain[0]!;
    const modelResolved = response ? headerOf(response, "x-bedrock-claude-model") : null;
    const pricing = this.pricing(target, modelResolved ?? ctx.modelRequested, modelResolved);
    const usage = outcome.usage;
    const costUsd =
      usage.inputTokens + usage.outputTokens + usage.cacheReadTokens + usage.cacheWriteTokens === 0
        ? 0
        : costOf(usage, ctx.startedAt >= pricing.extendedFrom ? pricing.extendedPrice : pricing.price);
    const attempts: LedgerAttempt[] = attemptsMade.map((a) => {
      const billed = a === served && a.verdict === "success" ? usage : NO_USAGE;
      return {
        attempt: a.attempt,
        target: a.target,
        provider: a.provider,
        region: a.region,
        status: a.status,
        errorName: a.errorName,
        verdict: a.verdict,
        latencyMs: a.latencyMs,
        inputTokens: billed.inputTokens,
        outputTokens: billed.outputTokens,
        cacheWriteTokens: billed.cacheWriteTokens,
        cacheWrite1hTokens: billed.cacheWrite1hTokens,
        cacheReadTokens: billed.cacheReadTokens,
        costUsd: billed === NO_USAGE ? 0 : costUsd,
      };
    });
    return {
      id: ctx.headers.get(REQUEST_ID_HEADER) ?? timeOrderedId(ctx.startedAt),
      time: ctx.startedAt,
      stream: ctx.stream,
      provider: target.provider,
      region: target.provider === "anthropic" ? "anthropic" : target.region,
      target: target.name,
      modelRequested: ctx.modelRequested,
      modelResolved,
      anthropicName: pricing.entry?.anthropicName ?? null,
      upstreamRequestId: response ? headerOf(response, "request-id") : null,
      key: ctx.headers.get(KEY_HEADER) ?? null,
      tag: this.tagOf(ctx.headers),
      status: response?.status ?? 0,
      errorName: outcome.errorName,
      stopReason: outcome.stopReason,
      partial: outcome.partial,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      cacheWriteTokens: usage.cacheWriteTokens,
      cacheWrite1hTokens: usage.cacheWrite1hTokens,
      cacheReadTokens: usage.cacheReadTokens,
      costUsd,
      firstByteMs: outcome.firstByteMs,
      totalMs: Date.now() - ctx.startedAt,
      attempts,
      failover: target.name !== ctx.chain[0]?.name,
    };
  }

  /** A request that failed without any answer (network failure on every target, or aborted). */
  failedWithoutAnswer(ctx: RequestContext, error: unknown): void {
    const code = (error as { code?: string; name?: string })?.code ?? (error as Error)?.name ?? "Error";
    this.write(ctx, undefined, {
      usage: NO_USAGE,
      errorName: String(code),
      stopReason: null,
      partial: false,
      firstByteMs: null,
    });
  }

  /** Records the request once its usage is known; returns the response to hand to the caller. */
  async finish(ctx: RequestContext, response: Response): Promise<Response> {
    const firstByteMs = Date.now() - ctx.startedAt;
    if (!response.ok) {
      const errorName = response.headers.get("x-amzn-errortype") ?? `http_${response.status}`;
      this.write(ctx, response, {
        usage: NO_USAGE,
        errorName,
        stopReason: null,
        partial: false,
        firstByteMs,
      });
      return response;
    }
    if (response.body && (headerOf(response, "content-type") ?? "").includes("text/event-stream")) {
      return this.finishStream(ctx, response, firstByteMs);
    }
    // A whole answer the transport kept the bytes of is read without consuming it: the caller gets
    // the same Response. Any other is read here and handed on as a new one.
    const whole = wholeBodyOf(response);
    const text = whole ? undefined : await response.text();
    let usage = usageFromHeaders((name) => headerOf(response, name));
    let stopReason: string | null = null;
    // With the usage from the headers, only the stop reason is needed: read in place.
    const stop = usage && whole ? stopReasonAtEnd(whole) : undefined;
    // Else the stop reason (and usage, when the headers do not give it) from the answer's last
    // members; the whole answer is parsed only when they do not say.
    const end: MessageEnd | undefined = stop ?? messageEnd(whole ?? text!);
    if (end && (usage || end.usage)) {
      usage ??= { ...NO_USAGE, ...end.usage };
      stopReason = end.stopReason;
    } else {
      try {
        const message = JSON.parse(text ?? decoder.decode(whole)) as {
          usage?: unknown;
          stop_reason?: string;
        };
        usage ??= { ...NO_USAGE, ...usageFrom(message.usage) };
        stopReason = message.stop_reason ?? null;
      } catch {
        // not a Message: no usage to take
      }
    }
    this.write(ctx, response, {
      usage: usage ?? NO_USAGE,
      errorName: null,
      stopReason,
      partial: false,
      firstByteMs,
    });
    return whole ? response : new Response(text!, { status: response.status, headers: response.headers });
  }

  /**
   * A stream is recorded when it ends, before the caller reads its end. A body the transport made
   * observable is watched where it is (its usage events from the event-stream converter, or its
   * chunks scanned); any other is wrapped in a tap.
   */
  private finishStream(ctx: RequestContext, response: Response, firstByteMs: number): Response {
    const record = (stream: StreamUsage, how: StreamEnd) => {
      this.write(ctx, response, {
        usage: stream.billed(),
        errorName:
          stream.errorName ??
          (how === "cancelled" ? "client_closed" : how === "failed" ? "stream_failed" : null),
        stopReason: stream.stopReason,
        partial: how !== "complete" || !stream.finished,
        firstByteMs,
      });
    };
    const watched = observeBody(response.body, (reported) => {
      if (reported) return { onEnd: (how) => record(reported, how) };
      const stream = new StreamUsage();
      const scanner = new SseScanner((type, data) => stream.onEvent(type, data));
      return {
        onChunk: (chunk) => scanner.push(chunk),
        onEnd: (how) => {
          scanner.end();
          record(stream, how);
        },
      };
    });
    if (watched) return response;
    const stream = new StreamUsage();
    const body = sseTap(response.body!, {
      onEvent: (type, data) => stream.onEvent(type, data),
      onEnd: (how) => record(stream, how),
    });
    return new Response(body, { status: response.status, headers: response.headers });
  }
}
