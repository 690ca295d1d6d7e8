/**
 * The transport: a function with `fetch`'s signature that takes Anthropic Messages API requests
 * and speaks, per target, Bedrock InvokeModel (JSON and event stream), Bedrock's Anthropic-native
 * Messages API (bedrock-runtime or Mantle), or the Anthropic API. It resolves the model for the
 * target, adapts the body to what Bedrock accepts, signs, sends, and turns the answer (errors and
 * streams included) back into the Anthropic API's shape. The official SDK uses it as its `fetch`;
 * the gateway serves it over HTTP.
 */

import { setTimeout as delay } from "node:timers/promises";
import { anthropicTypeForAws } from "../bedrock/errors.js";
import { EventStreamToSse, type StreamObserver } from "../bedrock/event-stream-sse.js";
import { BEDROCK_EXCEPTION_STATUS, isBedrockExceptionName } from "../bedrock/exceptions.js";
import { type ModelCatalog, shippedCatalog } from "../models/catalog.js";
import { ModelDiscovery } from "../models/discovery.js";
import { availableNames, ModelResolutionError, type ResolvedModel, resolveModel } from "../models/resolve.js";
import { type ResiliencePolicy, TOTAL_TIMEOUT_DEFAULT_MS } from "../resilience/policy.js";
import { BudgetExceededError, type BudgetReservation, type BudgetTracker } from "../usage/budgets.js";
import { KEY_HEADER, type RequestContext, TAG_HEADER, type UsageRecorder } from "../usage/recorder.js";
import { StreamUsage } from "../usage/usage.js";
import { authorize, CredentialsError } from "./auth.js";
import { BadRequest, betasOf, type IncomingCall, readCall } from "./call.js";
import { type AdaptContext, CompatError, CompatPolicy, shippedCompatRules } from "./compat.js";
import { type AttemptRecord, healthOf, limitersFor, type ResilienceState, runAttempts } from "./resilient.js";
import { adaptBedrockError, errorMessageOf, errorResponse, jsonResponse } from "./responses.js";
import { asSourceStream, nodeStreamOf, sourceStream } from "./source-stream.js";
import type { Target } from "./target.js";
import {
  createUpstreamFetch,
  dispatcherFor,
  madeResponse,
  type UpstreamFetch,
  wholeBodyOf,
} from "./upstream.js";

/** What InvokeModel wants in `anthropic_version` unless the caller set one. */
export const BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31";
/** What the Anthropic-native endpoints get in `anthropic-version` unless the caller sent one. */
const DEFAULT_API_VERSION = "2023-06-01";

export type FetchLike = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

export interface TransportOptions {
  /**
   * The targets, in order (failover across them comes with the resilience layer). A promise is
   * awaited on the first request: settings such as the profile's region load asynchronously.
   */
  targets: Target[] | Promise<Target[]>;
  catalog?: ModelCatalog;
  /** Model aliases: `{ "fast": "claude-haiku-4-5" }`. */
  aliases?: Record<string, string>;
  /** `drop` (default): drop what Bedrock refuses, with a warning; `strict`: refuse early. */
  compatibility?: "drop" | "strict";
  /** Where warnings go (default: console.warn). */
  warn?: (message: string) => void;
  /** The HTTP client for upstream calls (default: undici with keep-alive and proxy support). */
  upstream?: UpstreamFetch;
  /**
   * Ask the control plane about ids the catalog does not know (default true); answers are cached
   * for an hour, and a role without `bedrock:List*` simply falls back to the catalog.
   */
  discovery?: boolean;
  /** Retries, failover, breakers, limits, timeouts (see docs/resilience.md). */
  resilience?: ResiliencePolicy;
  /** Called with every upstream attempt (also published on the `bedrock-claude:attempt` diagnostics channel). */
  onAttempt?: (attempt: AttemptRecord) => void;
  /** Filled in with controls over the chain's breakers (the drill forces the primary's open). */
  controls?: TransportControls;
  /** Where each request's usage and cost is recorded (default: none at this level; createClient opens one). */
  recorder?: UsageRecorder;
  /** Budgets checked before each request goes upstream (needs the recorder for real costs). */
  budgets?: BudgetTracker;
}

/** Handles on a running transport's resilience state. */
export interface TransportControls {
  /** Opens a target's breaker now, for `ms` (or its policy's time). */
  forceOpen?: (target: string, ms?: number) => void;
  /** Each target's breaker state. */
  breakerStates?: () => Record<string, string>;
}

const encoder = new TextEncoder();
/** Names that look like Bedrock ids (`anthropic.…`, `us.anthropic.…`): only those are worth asking the control plane about. */
const BEDROCK_ID = /^(?:[a-z-]+\.)?anthropic\./;

interface Context {
  warn: (message: string) => void;
  /** Models already warned about (legacy, end of life coming). */
  lifecycleWarned: Set<string>;
  catalog: ModelCatalog;
  aliases: Record<string, string> | undefined;
  compat: CompatPolicy;
  /** The HTTP client for a target (its timeouts; a proxy when the environment names one). */
  upstreamFor: (target: Target) => UpstreamFetch;
  discovery: ModelDiscovery | undefined;
  /** A recorder is listening: InvokeModel streams report their usage events as they are converted. */
  observeUsage: boolean;
}

/** Feeds a stream's usage from the event-stream converter; exceptions as the SSE `error` event's type. */
function usageObserver(usage: StreamUsage): StreamObserver {
  return {
    onEvent: (event) => usage.onEvent(event.type, event.data),
    onError: (error) => {
      const status = isBedrockExceptionName(error.name) ? BEDROCK_EXCEPTION_STATUS[error.name] : 500;
      usage.onEvent("error", { error: { type: anthropicTypeForAws({ name: error.name, status }) } });
    },
  };
}

/**
 * SSE bodies already framed with the Anthropic API's `ping` (the API's own, and the event-stream
 * converter's): whoever adds pings for other upstreams (the gateway) leaves these as they are.
 */
const withAnthropicPing = new WeakSet<ReadableStream<Uint8Array>>();

export function hasAnthropicPing(body: ReadableStream<Uint8Array> | null): boolean {
  return body !== null && withAnthropicPing.has(body);
}

function targetHeaders(target: Target, resolved?: ResolvedModel): Record<string, string> {
  const headers: Record<string, string> = { "x-bedrock-claude-target": target.name };
  if (resolved) headers["x-bedrock-claude-model"] = resolved.id;
  return headers;
}

function requestIdOf(response: Response): string | undefined {
  return response.headers.get("x-amzn-requestid") ?? response.headers.get("request-id") ?? undefined;
}

/**
 * Upstream headers worth keeping: the server's wait (Retry-After), Bedrock's token counts (usage
 * without parsing the body), and the Anthropic API's rate-limit state.
 */
const KEPT_HEADER = /^(retry-after(-ms)?|x-amzn-bedrock-[\w-]+|anthropic-ratelimit-[\w-]+|x-should-retry)$/;

export function keptHeaders(upstream: Response): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of upstream.headers) if (KEPT_HEADER.test(name)) kept[name] = value;
  return kept;
}

/** Success: the upstream body as it is (JSON or SSE), with the request id the SDK reads. */
function passSuccess(upstream: Response, contentType: string, extra: Record<string, string>): Response {
  const headers: Record<string, string> = { ...keptHeaders(upstream), "content-type": contentType, ...extra };
  const requestId = requestIdOf(upstream);
  if (requestId) headers["request-id"] = requestId;
  const body = wholeBodyOf(upstream) ?? (upstream.body && asSourceStream(upstream.body));
  return madeResponse(body, upstream.status, headers);
}

interface Prepared {
  url: URL;
  body: Record<string, unknown>;
  betas: string[];
  stream: boolean;
}

async function resolveFor(ctx: Context, target: Target, model: string): Promise<ResolvedModel> {
  let resolved: ResolvedModel;
  try {
    resolved = resolveModel(ctx.catalog, model, {
      provider: target.provider,
      region: target.region,
      geography: target.geography,
      aliases: ctx.aliases,
    });
  } catch (error) {
    // An id newer than the catalog: the region's control plane may know it.
    const requested = ctx.aliases?.[model] ?? model;
    const live =
      error instanceof ModelResolutionError &&
      BEDROCK_ID.test(requested) &&
      !ctx.catalog.byName(requested) &&
      !ctx.catalog.byFoundationId(requested)
        ? await ctx.discovery?.resolveUnknown(target, requested, [
            ...(target.geography ? [target.geography] : []),
            ...ctx.catalog.geographiesOf(target.region).map((g) => g.prefix),
            "global",
          ])
        : undefined;
    if (!live) throw error;
    return { id: live, kind: live.includes(".anthropic.") ? "inference-profile" : "foundation-model" };
  }
  const entry = resolved.entry;
  // Say once per model when it is legacy, before it disappears.
  if (
    entry?.lifecycle.status === "LEGACY" &&
    target.provider !== "anthropic" &&
    !ctx.lifecycleWarned.has(entry.anthropicName)
  ) {
    ctx.lifecycleWarned.add(entry.anthropicName);
    const eol = entry.lifecycle.endOfLife ? `; end of life on ${entry.lifecycle.endOfLife}` : "";
    ctx.warn(
      `bedrock-claude: ${entry.modelName} (${entry.anthropicName}) is a legacy model on Bedrock${eol}. Move to ${ctx.catalog.defaultModel} or another current model.`,
    );
  }
  return resolved;
}

/** InvokeModel: model into the path, `stream` and `model` out of the body, version and betas in. */
/** An Anthropic body as InvokeModel (and CountTokens) take it: no `model` or `stream`, a version. */
function invokeBody(body: Record<string, unknown>): Record<string, unknown> {
  const { model: _model, stream: _stream, ...rest } = body;
  rest.anthropic_version ??= BEDROCK_ANTHROPIC_VERSION;
  return rest;
}

function prepareInvoke(target: Target, call: IncomingCall, resolved: ResolvedModel): Prepared {
  const stream = call.body!.stream === true;
  const body = invokeBody(call.body!);
  const operation = stream ? "invoke-with-response-stream" : "invoke";
  const url = new URL(`${target.baseUrl}/model/${encodeURIComponent(resolved.id)}/${operation}`);
  return { url, body, betas: betasOf(call), stream };
}

/** Native Messages API (bedrock-runtime `/anthropic`, Mantle) and the Anthropic API: the body as is. */
function prepareMessages(
  target: Target,
  call: IncomingCall,
  resolved: ResolvedModel,
  path: string,
): Prepared {
  const body: Record<string, unknown> = { ...call.body!, model: resolved.id };
  const betas = betasOf(call);
  delete body.anthropic_beta;
  const url = new URL(`${target.baseUrl}${path}`);
  if (target.provider === "anthropic") url.search = call.url.search;
  return { url, body, betas, stream: body.stream === true };
}

async function send(ctx: Context, target: Target, call: IncomingCall, prepared: Prepared): Promise<Response> {
  const invoke = target.provider === "bedrock" && target.bedrockApi === "invoke";
  const body = { ...prepared.body };
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (invoke) {
    if (prepared.betas.length > 0) body.anthropic_beta = prepared.betas;
    headers.accept = prepared.stream ? "application/vnd.amazon.eventstream" : "application/json";
    if (prepared.stream) headers["x-amzn-bedrock-accept"] = "application/json";
  } else {
    headers["anthropic-version"] = call.headers.get("anthropic-version") ?? DEFAULT_API_VERSION;
    if (prepared.betas.length > 0) headers["anthropic-beta"] = prepared.betas.join(",");
    headers.accept = prepared.stream ? "text/event-stream" : "application/json";
  }
  const bytes = encoder.encode(JSON.stringify(body));
  const signed = await authorize(target, { method: "POST", url: prepared.url, headers, body: bytes });
  return ctx.upstreamFor(target)(prepared.url.toString(), {
    method: "POST",
    headers: signed,
    body: bytes,
    signal: call.signal,
  });
}

async function messages(ctx: Context, target: Target, call: IncomingCall): Promise<Response> {
  const resolved = await resolveFor(ctx, target, call.body!.model as string);
  const extra = targetHeaders(target, resolved);
  const invoke = target.provider === "bedrock" && target.bedrockApi === "invoke";
  let prepared = invoke
    ? prepareInvoke(target, call, resolved)
    : prepareMessages(
        target,
        call,
        resolved,
        target.provider === "anthropic" ? "/v1/messages" : "/anthropic/v1/messages",
      );
  const compatKey: AdaptContext = {
    shape: invoke ? "invoke" : "messages",
    key: `${target.name} ${resolved.id}`,
    modelName: resolved.entry?.anthropicName,
  };
  if (target.provider !== "anthropic") {
    const body = { ...prepared.body };
    const betas = ctx.compat.adapt(body, prepared.betas, compatKey);
    prepared = { ...prepared, body, betas };
  }
  let upstream = await send(ctx, target, call, prepared);
  if (target.provider === "anthropic") {
    const passed = passSuccess(upstream, upstream.headers.get("content-type") ?? "application/json", extra);
    if (passed.body && prepared.stream) withAnthropicPing.add(passed.body);
    return passed;
  }
  if (upstream.status === 400) {
    const text = await upstream.text();
    const retry = ctx.compat.learn(errorMessageOf(text), prepared.body, prepared.betas, compatKey);
    if (!retry) return adaptBedrockError(upstream, text, extra);
    prepared = { ...prepared, ...retry };
    upstream = await send(ctx, target, call, prepared);
  }
  if (!upstream.ok) return adaptBedrockError(upstream, await upstream.text(), extra);
  if (invoke && prepared.stream) {
    // With a ledger, the converter reports the usage events it decodes anyway: the recorder reads
    // them from here instead of parsing the SSE it writes.
    const usage = ctx.observeUsage ? new StreamUsage() : undefined;
    const observer = usage && usageObserver(usage);
    // The conversion runs inside the one stream made over the upstream's Node stream.
    const sse = sourceStream(nodeStreamOf(upstream.body!), {
      convert: new EventStreamToSse(requestIdOf(upstream), observer),
      usage,
    });
    withAnthropicPing.add(sse);
    const headers: Record<string, string> = { "content-type": "text/event-stream", ...extra };
    const requestId = requestIdOf(upstream);
    if (requestId) headers["request-id"] = requestId;
    return madeResponse(sse, 200, headers);
  }
  return passSuccess(upstream, prepared.stream ? "text/event-stream" : "application/json", extra);
}

/**
 * count_tokens: the Anthropic API's own, or Bedrock's CountTokens on bedrock-runtime (which takes a
 * foundation id and an InvokeModel body; Mantle has no count endpoint of its own).
 */
async function countTokens(ctx: Context, target: Target, call: IncomingCall): Promise<Response> {
  const resolved = await resolveFor(ctx, target, call.body!.model as string);
  const extra = targetHeaders(target, resolved);
  if (target.provider === "anthropic") {
    const prepared = prepareMessages(target, call, resolved, "/v1/messages/count_tokens");
    const upstream = await send(ctx, target, call, prepared);
    return passSuccess(upstream, "application/json", extra);
  }
  const foundation = resolved.entry?.bedrockModelId;
  if (!foundation) {
    return errorResponse(
      "invalid_request_error",
      `count_tokens needs a model the catalog knows; "${resolved.id}" is not one.`,
      extra,
    );
  }
  // CountTokens validates an InvokeModel body, which needs max_tokens; count_tokens has none.
  const body = invokeBody({ max_tokens: 1, ...call.body! });
  const betas = ctx.compat.adapt(body, betasOf(call), {
    shape: "invoke",
    key: `${target.name} ${foundation}`,
    modelName: resolved.entry?.anthropicName,
  });
  if (betas.length > 0) body.anthropic_beta = betas;
  const url = new URL(`${target.runtimeUrl}/model/${encodeURIComponent(foundation)}/count-tokens`);
  const payload = encoder.encode(
    JSON.stringify({
      input: { invokeModel: { body: Buffer.from(JSON.stringify(body)).toString("base64") } },
    }),
  );
  const headers = await authorize(
    target,
    {
      method: "POST",
      url,
      headers: { "content-type": "application/json", accept: "application/json" },
      body: payload,
    },
    "runtime",
  );
  const upstream = await ctx.upstreamFor(target)(url.toString(), {
    method: "POST",
    headers,
    body: payload,
    signal: call.signal,
  });
  const text = await upstream.text();
  if (!upstream.ok) return adaptBedrockError(upstream, text, extra);
  const { inputTokens } = JSON.parse(text) as { inputTokens: number };
  const requestId = requestIdOf(upstream);
  return jsonResponse(
    { input_tokens: inputTokens },
    { ...extra, ...(requestId ? { "request-id": requestId } : {}) },
  );
}

/** `GET /v1/models[/{id}]` for a Bedrock target: the models it can serve, by Anthropic name. */
function models(ctx: Context, target: Target, call: IncomingCall): Response {
  const names = availableNames(ctx.catalog, target.provider, target.region);
  const describe = (name: string) => {
    const entry = ctx.catalog.byName(name)!;
    return {
      type: "model",
      id: name,
      display_name: entry.modelName,
      created_at: `${entry.sourceDate}T00:00:00Z`,
    };
  };
  if (call.operation === "model") {
    const entry = ctx.catalog.byName(call.modelId ?? "");
    const name = entry && names.find((n) => ctx.catalog.byName(n) === entry);
    if (!name) return errorResponse("not_found_error", `model: ${call.modelId}`, targetHeaders(target));
    return jsonResponse(describe(name), targetHeaders(target));
  }
  const data = names.map(describe);
  return jsonResponse(
    { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null },
    targetHeaders(target),
  );
}

/** Anything else goes to the Anthropic API as is; Bedrock has no equivalent. */
async function passThrough(ctx: Context, target: Target, call: IncomingCall): Promise<Response> {
  if (target.provider !== "anthropic") {
    return errorResponse(
      "not_found_error",
      `${call.method} ${call.url.pathname} is not available on Bedrock.`,
      targetHeaders(target),
    );
  }
  const url = new URL(`${target.baseUrl}${call.url.pathname}${call.url.search}`);
  const headers: Record<string, string> = {};
  for (const [name, value] of call.headers) {
    if (name !== "x-api-key" && name !== "authorization" && name !== "host" && name !== "content-length")
      headers[name] = value;
  }
  const signed = await authorize(target, { method: call.method, url, headers });
  const upstream = await ctx.upstreamFor(target)(url.toString(), {
    method: call.method,
    headers: signed,
    body: call.rawBody,
    signal: call.signal,
  });
  return passSuccess(
    upstream,
    upstream.headers.get("content-type") ?? "application/json",
    targetHeaders(target),
  );
}

/** Turns the transport's own refusals into the Anthropic answers the SDK expects. */
function refusal(error: unknown, target: Target): Response {
  if (error instanceof ModelResolutionError)
    return errorResponse("not_found_error", error.message, targetHeaders(target));
  if (error instanceof CompatError)
    return errorResponse("invalid_request_error", error.message, targetHeaders(target));
  if (error instanceof CredentialsError)
    return errorResponse("authentication_error", error.message, targetHeaders(target));
  // Network failures and aborts propagate, so the attempt loop (and the SDK) see them as such.
  throw error;
}

/** Tokens a limiter reserves for a request: a cheap input estimate (4 bytes a token) plus max_tokens. */
function reserveTokens(call: IncomingCall): number {
  const maxTokens = typeof call.body?.max_tokens === "number" ? call.body.max_tokens : 0;
  return Math.ceil((call.rawBody?.length ?? 0) / 4) + maxTokens;
}

export function createTransport(options: TransportOptions): FetchLike {
  const warn = options.warn ?? ((m: string) => console.warn(m));
  const policy = options.resilience ?? {};
  const sharedUpstream = options.upstream ?? createUpstreamFetch(dispatcherFor(policy.timeouts));
  const ctx: Context = {
    warn,
    lifecycleWarned: new Set(),
    catalog: options.catalog ?? shippedCatalog(),
    aliases: options.aliases,
    compat: new CompatPolicy(shippedCompatRules(), options.compatibility ?? "drop", warn),
    upstreamFor: () => sharedUpstream,
    discovery: options.discovery === false ? undefined : new ModelDiscovery(sharedUpstream),
    observeUsage: options.recorder !== undefined,
  };
  const resilience: ResilienceState = {
    policy,
    health: new Map(),
    limiters: limitersFor(policy),
    now: Date.now,
    random: Math.random,
    sleep: (ms, signal) => (ms > 0 ? delay(ms, undefined, { signal }) : Promise.resolve()),
    onAttempt: options.onAttempt,
  };
  const targets = Promise.resolve(options.targets).then((list) => {
    if (list.length === 0) throw new Error("bedrock-claude: the transport needs at least one target");
    return list;
  });
  // Settled here so that a failure surfaces on the first request, not as an unhandled rejection.
  targets.catch(() => undefined);
  if (options.controls) {
    options.controls.forceOpen = (name, ms) => {
      healthOf(resilience, name).breaker?.forceOpen(ms);
    };
    options.controls.breakerStates = () =>
      Object.fromEntries([...resilience.health].map(([name, h]) => [name, h.breaker?.current() ?? "off"]));
  }
  const totalMs = policy.timeouts?.totalMs ?? TOTAL_TIMEOUT_DEFAULT_MS;

  return async (input, init) => {
    const chain = await targets;
    let call: IncomingCall;
    try {
      call = await readCall(input, init);
    } catch (error) {
      if (error instanceof BadRequest) return errorResponse("invalid_request_error", error.message);
      throw error;
    }
    const first = chain[0]!;
    if (call.operation !== "messages" && call.operation !== "count_tokens") {
      try {
        if (call.operation === "other" || first.provider === "anthropic")
          return await passThrough(ctx, first, call);
        return models(ctx, first, call);
      } catch (error) {
        return refusal(error, first);
      }
    }
    // The whole exchange (retries, streaming) ends at the total timeout or when the caller aborts.
    const total = AbortSignal.timeout(totalMs);
    const signal = call.signal ? AbortSignal.any([call.signal, total]) : total;
    const operation = call.operation === "messages" ? messages : countTokens;
    const stream = call.operation === "messages" && call.body?.stream === true;
    const records: AttemptRecord[] = [];
    const startedAt = Date.now();
    // count_tokens bills nothing: only messages go to the ledger.
    const recorder = call.operation === "messages" ? options.recorder : undefined;
    const model = String(call.body?.model);
    const request: RequestContext = {
      startedAt,
      chain,
      modelRequested: model,
      stream,
      attempts: records,
      headers: call.headers,
    };
    let budget: BudgetReservation | undefined;
    if (call.operation === "messages" && options.budgets) {
      try {
        budget = options.budgets.admit({
          tag: recorder?.tagOf(call.headers) ?? call.headers.get(TAG_HEADER) ?? null,
          key: call.headers.get(KEY_HEADER) ?? null,
          model,
          inputTokens: Math.ceil((call.rawBody?.length ?? 0) / 4),
          maxTokens: typeof call.body?.max_tokens === "number" ? call.body.max_tokens : 0,
        });
      } catch (error) {
        if (!(error instanceof BudgetExceededError)) throw error;
        // Refused before any upstream call, like the Anthropic API's own billing refusals (402).
        const refused = errorResponse("billing_error", error.message, targetHeaders(first));
        return recorder ? recorder.finish(request, refused) : refused;
      }
    }
    // Only an admitted request swaps a reservation for its cost: a refused one has none.
    request.onRecorded = (entry) => {
      budget?.release();
      options.budgets?.recorded(entry);
    };
    let response: Response;
    try {
      response = await runAttempts(resilience, {
        targets: chain,
        model,
        tokens: reserveTokens(call),
        stream,
        signal,
        records,
        send: async (target, attemptSignal) => {
          try {
            return await operation(ctx, target, { ...call, signal: attemptSignal });
          } catch (error) {
            return refusal(error, target);
          }
        },
      });
    } catch (error) {
      if (recorder) recorder.failedWithoutAnswer(request, error);
      else budget?.release();
      throw error;
    }
    if (recorder) return recorder.finish(request, response);
    budget?.release();
    return response;
  };
}
