/**
 * Feeds the ledger from the transport: once a request's usage is known (the JSON answer read, the
 * stream ended, the error returned), one record with its attempts is written, before the caller
 * sees the end of the answer. Recording never fails a request: a store error is reported once.
 */
import { randomBytes } from "node:crypto";
import type { ModelCatalog } from "../models/catalog.js";
import { findModel } from "../models/resolve.js";
import type { AttemptRecord } from "../transport/resilient.js";
import type { Target } from "../transport/target.js";
import type { LedgerAttempt, LedgerRequest, LedgerStore } from "./ledger.js";
import { costOf, endpointKind, type PriceBook } from "./prices.js";
import { sseTap } from "./sse-tap.js";
import { NO_USAGE, StreamUsage, type Usage, usageFrom, usageFromHeaders } from "./usage.js";

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
  return `${time.toString(16).padStart(12, "0")}-${randomBytes(10).toString("hex")}`;
}

/** Headers by which a caller (the gateway) names the key and tag of a request. */
export const TAG_HEADER = "x-bedrock-claude-tag";
export const KEY_HEADER = "x-bedrock-claude-key";
/** The id a caller (the gateway) gives a request: the ledger records it under that id, so logs and answers correlate. */
export const REQUEST_ID_HEADER = "x-bedrock-claude-request-id";

export class UsageRecorder {
  private failed = false;

  constructor(private readonly options: RecorderOptions) {}

  /** The tag a request is recorded (and budgeted) under. */
  tagOf(headers: Map<string, string>): string | null {
    return headers.get(TAG_HEADER) ?? this.options.tag ?? null;
  }

  private write(entry: LedgerRequest, ctx: RequestContext): void {
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

  private build(
    ctx: RequestContext,
    response: Response | undefined,
    usage: Usage,
    extra: Partial<LedgerRequest>,
  ): LedgerRequest {
    const served =
      [...ctx.attempts].reverse().find((a) => a.verdict === "success") ??
      ctx.attempts[ctx.attempts.length - 1];
    const target = ctx.chain.find((t) => t.name === served?.target) ?? ctx.chain[0]!;
    const modelResolved = response?.headers.get("x-bedrock-claude-model") ?? null;
    const asked = modelResolved ?? ctx.modelRequested;
    // ARNs of inference profiles and foundation models name a catalog model too.
    const entry =
      findModel(this.options.catalog, asked) ??
      this.options.catalog.resolveModelId(asked, target.region)?.model;
    const at = new Date(ctx.startedAt);
    const price = this.options.prices.priceFor(
      entry?.anthropicName,
      endpointKind(target.provider, modelResolved, entry, at),
    );
    const costUsd =
      usage.inputTokens + usage.outputTokens + usage.cacheReadTokens + usage.cacheWriteTokens === 0
        ? 0
        : costOf(usage, price);
    const attempts: LedgerAttempt[] = ctx.attempts.map((a) => {
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
        ...billed,
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
      anthropicName: entry?.anthropicName ?? null,
      upstreamRequestId: response?.headers.get("request-id") ?? null,
      key: ctx.headers.get(KEY_HEADER) ?? null,
      tag: this.tagOf(ctx.headers),
      status: response?.status ?? 0,
      errorName: null,
      stopReason: null,
      partial: false,
      ...usage,
      costUsd,
      firstByteMs: response ? Date.now() - ctx.startedAt : null,
      totalMs: Date.now() - ctx.startedAt,
      attempts,
      failover: target.name !== ctx.chain[0]?.name,
      ...extra,
    };
  }

  /** A request that failed without any answer (network failure on every target, or aborted). */
  failedWithoutAnswer(ctx: RequestContext, error: unknown): void {
    const code = (error as { code?: string; name?: string })?.code ?? (error as Error)?.name ?? "Error";
    this.write(
      this.build(ctx, undefined, NO_USAGE, { errorName: String(code), totalMs: Date.now() - ctx.startedAt }),
      ctx,
    );
  }

  /** Records the request once its usage is known; returns the response to hand to the caller. */
  async finish(ctx: RequestContext, response: Response): Promise<Response> {
    if (!response.ok) {
      const errorName = response.headers.get("x-amzn-errortype") ?? `http_${response.status}`;
      this.write(this.build(ctx, response, NO_USAGE, { errorName }), ctx);
      return response;
    }
    const firstByteMs = Date.now() - ctx.startedAt;
    if ((response.headers.get("content-type") ?? "").includes("text/event-stream") && response.body) {
      const stream = new StreamUsage();
      const body = sseTap(response.body, {
        onEvent: (type, data) => stream.onEvent(type, data),
        onEnd: (how) => {
          const partial = how !== "complete" || !stream.finished;
          this.write(
            this.build(ctx, response, stream.billed(), {
              firstByteMs,
              stopReason: stream.stopReason,
              partial,
              errorName:
                stream.errorName ??
                (how === "cancelled" ? "client_closed" : how === "failed" ? "stream_failed" : null),
            }),
            ctx,
          );
        },
      });
      return new Response(body, { status: response.status, headers: response.headers });
    }
    const text = await response.text();
    let usage = usageFromHeaders(response.headers);
    let stopReason: string | null = null;
    try {
      const message = JSON.parse(text) as { usage?: unknown; stop_reason?: string };
      usage ??= { ...NO_USAGE, ...usageFrom(message.usage) };
      stopReason = message.stop_reason ?? null;
    } catch {
      // not a Message: no usage to take
    }
    this.write(this.build(ctx, response, usage ?? NO_USAGE, { firstByteMs, stopReason }), ctx);
    return new Response(text, { status: response.status, headers: response.headers });
  }
}
