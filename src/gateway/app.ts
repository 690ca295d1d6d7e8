/**
 * The gateway's HTTP routes (Hono on Node's HTTP/1.1 and h2c servers). Every model route ends in
 * the library's transport, called as a `fetch`: the gateway authenticates, applies the key's
 * allowlist, limits and budget, and hands the request on; translation, resilience and accounting
 * happen in the transport, once, as they do in `createClient()`.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { type Context, Hono } from "hono";
import { ANTHROPIC_ERROR_STATUS, type AnthropicErrorType, anthropicErrorBody } from "../anthropic/errors.js";
import type { IncomingSignedRequest } from "../aws/sigv4-verify.js";
import type { BedrockExceptionName } from "../bedrock/exceptions.js";
import type { ModelCatalog } from "../models/catalog.js";
import { findModel } from "../models/resolve.js";
import { type FetchLike, hasAnthropicPing } from "../transport/transport.js";
import { wholeBodyOf } from "../transport/upstream.js";
import type { LedgerStore } from "../usage/ledger.js";
import { KEY_HEADER, REQUEST_ID_HEADER, timeOrderedId } from "../usage/recorder.js";
import { globToRegExp } from "../util/glob.js";
import { type AuthContext, authenticate, type Caller } from "./auth.js";
import {
  awsError,
  countTokensToMessagesBody,
  DoorError,
  invokeToMessagesBody,
  sseToEventStream,
  toAwsError,
  toCountTokensAnswer,
  toInvokeAnswer,
} from "./bedrock-door.js";
import type { KeyBudgets } from "./key-budgets.js";
import { KeyLimitError, type KeyLimits, type KeyLimitTicket } from "./key-limits.js";
import type { KeyStore, VirtualKey } from "./keys.js";
import type { GatewayMetrics } from "./metrics.js";
import { contentTap, type RequestLog } from "./request-log.js";

type NodeBindings = {
  incoming: IncomingMessage | Http2ServerRequest;
  outgoing: ServerResponse | Http2ServerResponse;
};
/** The Hono environment of the gateway's routes: Node's request and response as bindings. */
export type GatewayEnv = { Bindings: NodeBindings };
export type GatewayContext = Context<GatewayEnv>;

export interface ReadyState {
  ready: boolean;
  checkedAt: string;
  targets: { target: string; ready: boolean; problem?: string }[];
}

export interface GatewayDeps {
  transport: FetchLike;
  catalog: ModelCatalog;
  aliases: Record<string, string>;
  keys: KeyStore;
  auth: AuthContext;
  limits: KeyLimits;
  budgets: KeyBudgets;
  metrics: GatewayMetrics;
  log: RequestLog;
  ledger: LedgerStore | undefined;
  maxBodyBytes: number;
  ready: () => Promise<ReadyState>;
  /** Requests being answered (graceful shutdown waits for them). */
  inFlight: { count: number };
  /** True once shutdown began: new requests are turned away. */
  draining: () => boolean;
  /** Admin routes and the dashboard, mounted by the caller. */
  extend?: (app: Hono<GatewayEnv>, helpers: AdminHelpers) => void;
  /** Each model call's route and limit ticket, by request id, so that its ledger record can settle it. */
  pending: Map<string, PendingRequest>;
}

export interface PendingRequest {
  route: string;
  ticket: KeyLimitTicket;
}

export interface AdminHelpers {
  /** Authenticates an admin request; answers the refusal itself when it is not one. */
  requireAdmin(c: GatewayContext): Promise<Response | undefined>;
  /** Who a token (as sent in `x-api-key`) belongs to, by the same rules (the dashboard's login form). */
  authenticateToken(token: string): Promise<Caller>;
  anthropicError(type: AnthropicErrorType, message: string, requestId?: string): Response;
}

class TooLarge extends Error {}

export function newRequestId(): string {
  return `req_${timeOrderedId(Date.now())}`;
}

function anthropicError(type: AnthropicErrorType, message: string, requestId?: string): Response {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (requestId) headers["request-id"] = requestId;
  return new Response(JSON.stringify(anthropicErrorBody(type, message, requestId)), {
    status: ANTHROPIC_ERROR_STATUS[type],
    headers,
  });
}

/** The body, read from Node's request with the size limit enforced as it arrives. */
async function readBody(incoming: NodeBindings["incoming"], maxBytes: number): Promise<Uint8Array> {
  const declared = Number(incoming.headers["content-length"] ?? "0");
  if (declared > maxBytes) throw new TooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of incoming as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new TooLarge();
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

function signedRequestOf(c: GatewayContext, body: Uint8Array): IncomingSignedRequest {
  const incoming = c.env.incoming;
  const target = incoming.url ?? "/";
  const q = target.indexOf("?");
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming.headers)) {
    // HTTP/2's pseudo-headers stay: the AWS SDK signs `:authority` (they are never forwarded).
    if (value === undefined) continue;
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(",") : String(value);
  }
  // HTTP/2 carries the host as :authority.
  if (!headers.host && typeof incoming.headers[":authority"] === "string") {
    headers.host = incoming.headers[":authority"];
  }
  return {
    method: incoming.method ?? "GET",
    rawPath: q < 0 ? target : target.slice(0, q),
    rawQuery: q < 0 ? "" : target.slice(q + 1),
    headers,
    body,
  };
}

/** Request headers the transport needs; credentials the client presented never go further. */
const DROPPED = new Set([
  "authorization",
  "x-api-key",
  "host",
  "content-length",
  "connection",
  "x-amz-date",
  "x-amz-security-token",
  "x-amz-content-sha256",
  "transfer-encoding",
  "keep-alive",
  KEY_HEADER,
  REQUEST_ID_HEADER,
]);

function forwardHeaders(headers: Record<string, string>, caller: Caller & { ok: true }, requestId: string) {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers))
    if (!DROPPED.has(name) && !name.startsWith(":")) out[name] = value;
  out[KEY_HEADER] = caller.name;
  out[REQUEST_ID_HEADER] = requestId;
  return out;
}

function allowed(
  key: VirtualKey | null,
  model: string,
  catalog: ModelCatalog,
  aliases: Record<string, string>,
) {
  if (!key || key.models.length === 0) return true;
  const asked = aliases[model] ?? model;
  const canonical = findModel(catalog, asked)?.anthropicName;
  return key.models.some((pattern) => {
    const re = globToRegExp(pattern);
    const patternModel = findModel(catalog, aliases[pattern] ?? pattern)?.anthropicName;
    return (
      re.test(model) ||
      re.test(asked) ||
      (canonical !== undefined && (re.test(canonical) || patternModel === canonical))
    );
  });
}

interface ModelCall {
  model: string;
  maxTokens: number;
}

/** What the gateway's checks need from the body (the transport reads it again, whole). */
function modelCallOf(body: string): ModelCall | undefined {
  try {
    const json = JSON.parse(body) as { model?: unknown; max_tokens?: unknown };
    if (typeof json.model !== "string") return undefined;
    return { model: json.model, maxTokens: typeof json.max_tokens === "number" ? json.max_tokens : 0 };
  } catch {
    return undefined;
  }
}

/** The body as text, decoded in place (`Buffer.from(body)` would copy it first). */
function utf8(body: Uint8Array): string {
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8");
}

type Built = { path: string; body: string | undefined; method: string };

type Door = "anthropic" | "bedrock";

interface Refusal {
  type: AnthropicErrorType;
  exception: BedrockExceptionName;
  message: string;
  reason: string;
  retryAfter?: number;
}

export function createGatewayApp(deps: GatewayDeps): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();

  app.onError((error, c) => {
    const requestId = c.res.headers.get("request-id") ?? newRequestId();
    deps.log.event("unhandled error", { requestId, error: (error as Error).message }, "error");
    return anthropicError("api_error", "The gateway failed to handle this request.", requestId);
  });

  // Status per route for /metrics, and the in-flight count for graceful shutdown.
  app.use(async (c, next) => {
    deps.inFlight.count++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      deps.inFlight.count--;
    };
    c.env.outgoing.once("close", release);
    try {
      if (deps.draining() && c.req.path !== "/healthz") {
        c.res = anthropicError("overloaded_error", "The gateway is shutting down.", newRequestId());
        c.header("connection", "close");
        return;
      }
      await next();
    } finally {
      deps.metrics.http(c.req.routePath || "unmatched", c.res.status);
      if (c.env.outgoing.writableFinished) release();
    }
  });

  const requireAdmin: AdminHelpers["requireAdmin"] = async (c) => {
    const caller = await authenticate(deps.auth, signedRequestOf(c, new Uint8Array()));
    if (!caller.ok) return anthropicError("authentication_error", caller.message);
    if (!caller.admin) return anthropicError("permission_error", "This needs the admin key.");
    return undefined;
  };

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/readyz", async (c) => {
    const state = await deps.ready();
    return c.json(state, state.ready ? 200 : 503);
  });

  app.get("/metrics", async (c) => {
    const refusal = await requireAdmin(c);
    if (refusal) return refusal;
    return c.body(await deps.metrics.text(), 200, { "content-type": deps.metrics.contentType });
  });

  /**
   * A model call through the transport: read and size-check the body, authenticate, check the
   * key's allowlist, limits and budget, then call. `door` decides the wire shape of refusals.
   */
  async function modelRoute(
    c: GatewayContext,
    route: string,
    door: Door,
    build: (body: Uint8Array) => Built,
    /** Makes the answer: always a new Response (its headers are set after), never the transport's own. */
    answer: (response: Response, requestId: string) => Promise<Response> | Response,
  ): Promise<Response> {
    const requestId = newRequestId();
    const refuse = (refusal: Refusal, key: string | null): Response => {
      deps.metrics.refused(refusal.reason);
      deps.log.refused({
        requestId,
        route,
        key,
        status: ANTHROPIC_ERROR_STATUS[refusal.type],
        error: refusal.message,
      });
      const response =
        door === "bedrock"
          ? awsError(refusal.exception, refusal.message, requestId)
          : anthropicError(refusal.type, refusal.message, requestId);
      if (refusal.retryAfter !== undefined) response.headers.set("retry-after", String(refusal.retryAfter));
      return response;
    };
    let body: Uint8Array;
    try {
      body = await readBody(c.env.incoming, deps.maxBodyBytes);
    } catch (error) {
      if (!(error instanceof TooLarge)) throw error;
      return refuse(
        {
          type: "request_too_large",
          exception: "ValidationException",
          message: `The request body is larger than this gateway's limit of ${deps.maxBodyBytes} bytes.`,
          reason: "too_large",
        },
        null,
      );
    }
    const signed = signedRequestOf(c, body);
    const caller = await authenticate(deps.auth, signed);
    if (!caller.ok) {
      return refuse(
        {
          type: caller.status === 401 ? "authentication_error" : "permission_error",
          exception:
            caller.exception ??
            (caller.status === 401 ? "UnrecognizedClientException" : "InvalidSignatureException"),
          message: caller.message,
          reason: "auth",
        },
        null,
      );
    }
    let built: Built;
    try {
      built = build(body);
    } catch (error) {
      if (!(error instanceof DoorError)) throw error;
      return refuse(
        {
          type: "invalid_request_error",
          exception: error.exception,
          message: error.message,
          reason: "invalid",
        },
        caller.name,
      );
    }
    const headers = forwardHeaders(signed.headers, caller, requestId);
    const call = built.body !== undefined ? modelCallOf(built.body) : undefined;
    let ticket: KeyLimitTicket | undefined;
    if (call) {
      if (!allowed(caller.key, call.model, deps.catalog, deps.aliases)) {
        return refuse(
          {
            type: "permission_error",
            exception: "AccessDeniedException",
            message: `Key "${caller.name}" may not use model "${call.model}"; it may use: ${caller.key!.models.join(", ")}.`,
            reason: "model_not_allowed",
          },
          caller.name,
        );
      }
      if (caller.key) {
        deps.budgets.ensure(caller.key);
        try {
          ticket = deps.limits.admit({
            key: caller.name,
            rpm: caller.key.rpm,
            tpm: caller.key.tpm,
            tokens: Math.ceil(body.byteLength / 4) + call.maxTokens,
          });
        } catch (error) {
          if (!(error instanceof KeyLimitError)) throw error;
          return refuse(
            {
              type: "rate_limit_error",
              exception: "ThrottlingException",
              message: error.message,
              reason: `key_${error.limit}`,
              retryAfter: Math.max(1, Math.ceil((error.resetsAt - Date.now()) / 1000)),
            },
            caller.name,
          );
        }
      }
    }
    if (route.endsWith("messages") || route.endsWith("invoke") || route.endsWith("stream")) {
      deps.pending.set(requestId, {
        route,
        ticket: ticket ?? { settle: () => undefined },
      });
    }
    let response: Response;
    try {
      response = await deps.transport(`http://gateway${built.path}`, {
        method: built.method,
        headers,
        body: built.body,
        signal: clientGone(c),
      });
    } catch (error) {
      deps.pending.delete(requestId);
      ticket?.settle(0);
      if (clientGone(c).aborted) return new Response(null, { status: 499 });
      const message = `No upstream target answered: ${(error as Error).message}`;
      return door === "bedrock"
        ? awsError("ServiceUnavailableException", message, requestId)
        : anthropicError("overloaded_error", message, requestId);
    }
    // A refusal that never reached the ledger (count_tokens, models) holds no reservation.
    if (!deps.pending.has(requestId)) ticket?.settle(0);
    // Read before answering: the transport's response is the ledger's too, and is never changed here.
    const upstreamId = response.headers.get("request-id");
    const prompt = deps.log.promptsOn && built.body && response.ok ? promptOf(built.body) : undefined;
    const source =
      prompt !== undefined && response.body
        ? new Response(
            contentTap(response.body, (completion) =>
              deps.log.content({ requestId, route, key: caller.name, prompt, completion }),
            ),
            { status: response.status, headers: response.headers },
          )
        : response;
    // Every answer function makes a Response of its own (the transport's is left as it was), so
    // its headers are ours to set: no second Response around the same body.
    const out = await answer(source, requestId);
    out.headers.set("request-id", requestId);
    if (upstreamId && upstreamId !== requestId)
      out.headers.set("x-bedrock-claude-upstream-request-id", upstreamId);
    const direct = directBodies.get(out);
    return direct ? sendDirect(c, out, direct) : out;
  }

  const passAnthropic = (response: Response, requestId: string) => anthropicAnswer(response, requestId, true);
  const anthropicBuild =
    (path: string) =>
    (body: Uint8Array): Built => ({ path, body: utf8(body), method: "POST" });

  app.post("/v1/messages", (c) =>
    modelRoute(c, "/v1/messages", "anthropic", anthropicBuild("/v1/messages"), passAnthropic),
  );
  app.post("/v1/messages/count_tokens", (c) =>
    modelRoute(
      c,
      "/v1/messages/count_tokens",
      "anthropic",
      anthropicBuild("/v1/messages/count_tokens"),
      passAnthropic,
    ),
  );
  // bedrock-runtime's and Mantle's Anthropic-native endpoint: the same Messages API, Anthropic-shaped errors.
  app.post("/anthropic/v1/messages", (c) =>
    modelRoute(
      c,
      "/anthropic/v1/messages",
      "anthropic",
      anthropicBuild("/v1/messages"),
      async (response, id) => {
        const out = await anthropicAnswer(response, id, false);
        out.headers.set("x-amzn-requestid", id);
        return out;
      },
    ),
  );
  app.get("/v1/models", (c) =>
    modelRoute(
      c,
      "/v1/models",
      "anthropic",
      () => ({ path: "/v1/models", body: undefined, method: "GET" }),
      passAnthropic,
    ),
  );
  app.get("/v1/models/:id", (c) => {
    const id = encodeURIComponent(c.req.param("id"));
    return modelRoute(
      c,
      "/v1/models/:id",
      "anthropic",
      () => ({ path: `/v1/models/${id}`, body: undefined, method: "GET" }),
      passAnthropic,
    );
  });

  // The Bedrock-compatible front door.
  const modelIdOf = (c: GatewayContext) => decodeURIComponent(c.req.param("modelId") ?? "");
  app.post("/model/:modelId/invoke", (c) =>
    modelRoute(
      c,
      "/model/:modelId/invoke",
      "bedrock",
      (body) => ({
        path: "/v1/messages",
        body: invokeToMessagesBody(modelIdOf(c), utf8(body), false),
        method: "POST",
      }),
      (response, id) => (response.ok ? toInvokeAnswer(response, id) : toAwsError(response, id)),
    ),
  );
  app.post("/model/:modelId/invoke-with-response-stream", (c) =>
    modelRoute(
      c,
      "/model/:modelId/invoke-with-response-stream",
      "bedrock",
      (body) => ({
        path: "/v1/messages",
        body: invokeToMessagesBody(modelIdOf(c), utf8(body), true),
        method: "POST",
      }),
      (response, id) => {
        if (!response.ok || !response.body) return toAwsError(response, id);
        return new Response(response.body.pipeThrough(sseToEventStream()), {
          status: 200,
          headers: {
            "content-type": "application/vnd.amazon.eventstream",
            "x-amzn-requestid": id,
            "x-amzn-bedrock-content-type": "application/json",
          },
        });
      },
    ),
  );
  app.post("/model/:modelId/count-tokens", (c) =>
    modelRoute(
      c,
      "/model/:modelId/count-tokens",
      "bedrock",
      (body) => ({
        path: "/v1/messages/count_tokens",
        body: countTokensToMessagesBody(modelIdOf(c), utf8(body)),
        method: "POST",
      }),
      (response, id) => (response.ok ? toCountTokensAnswer(response, id) : toAwsError(response, id)),
    ),
  );

  const authenticateToken: AdminHelpers["authenticateToken"] = (token) =>
    authenticate(deps.auth, {
      method: "POST",
      rawPath: "/",
      rawQuery: "",
      headers: { "x-api-key": token },
      body: new Uint8Array(),
    });

  deps.extend?.(app, { requireAdmin, authenticateToken, anthropicError });

  app.notFound((c) => {
    const path = c.req.path;
    if (path.startsWith("/model/")) {
      return awsError(
        "UnknownOperationException",
        `Unknown operation ${c.req.method} ${path}`,
        newRequestId(),
      );
    }
    return anthropicError(
      "not_found_error",
      `${c.req.method} ${path} is not a route of this gateway.`,
      newRequestId(),
    );
  });

  return app;
}

/**
 * The transport's answer as the Anthropic API gives it: an error body names the gateway's request
 * id (the one in `request-id`); a stream on the Anthropic-compatible door gets the API's `ping`
 * after the first content block starts when the upstream (Bedrock's event stream) had none.
 */
async function anthropicAnswer(response: Response, requestId: string, ping: boolean): Promise<Response> {
  const headers = new Headers(response.headers);
  const type = headers.get("content-type") ?? "";
  const whole = wholeBodyOf(response);
  if (response.ok && whole) return directAnswer(whole, { status: response.status, headers });
  if (!response.ok && type.includes("json")) {
    const text = whole ? utf8(whole) : await response.text();
    let body = text;
    try {
      const json = JSON.parse(text) as { type?: unknown; request_id?: unknown };
      if (json?.type === "error") body = JSON.stringify({ ...json, request_id: requestId });
    } catch {
      // not JSON after all: passed on as it came
    }
    headers.delete("content-length");
    return directAnswer(Buffer.from(body), { status: response.status, headers });
  }
  if (
    ping &&
    response.ok &&
    response.body &&
    type.includes("text/event-stream") &&
    !hasAnthropicPing(response.body)
  ) {
    headers.delete("content-length");
    return new Response(response.body.pipeThrough(pingAfterFirstBlock()), {
      status: response.status,
      headers,
    });
  }
  return new Response(response.body, { status: response.status, headers });
}

/**
 * Whole answers (JSON) the gateway writes straight to Node's response: the Response the route
 * returns carries only the status and headers. A Response made around the bytes would build a web
 * stream (and its transfer setup) that @hono/node-server then reads back chunk by chunk (measured
 * on the gateway's JSON path: both showed in its CPU profile, per call).
 */
const directBodies = new WeakMap<Response, Uint8Array>();

function directAnswer(bytes: Uint8Array, init: { status: number; headers: Headers }): Response {
  const response = new Response(null, init);
  directBodies.set(response, bytes);
  return response;
}

function sendDirect(c: GatewayContext, out: Response, bytes: Uint8Array): Response {
  const headers: Record<string, string> = {};
  for (const [name, value] of out.headers) headers[name] = value;
  headers["content-length"] = String(bytes.byteLength);
  c.env.outgoing.writeHead(out.status, headers);
  c.env.outgoing.end(bytes);
  // Tells @hono/node-server the answer is sent; the status is kept for the metrics middleware.
  return new Response(null, { status: out.status, headers: RESPONSE_ALREADY_SENT.headers });
}

const PING_FRAME = 'event: ping\ndata: {"type":"ping"}\n\n';

/**
 * Inserts the Anthropic API's `ping` after the first `content_block_start`, unless the next frame
 * is one already. Frames are read only until then; the rest of the stream passes untouched.
 */
function pingAfterFirstBlock(): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new TextDecoder();
  const ping = new TextEncoder().encode(PING_FRAME);
  let pending: Uint8Array = new Uint8Array(0);
  let state: "before" | "due" | "done" = "before";
  const startsWith = (frame: Uint8Array, prefix: string) =>
    decoder.decode(frame.subarray(0, prefix.length)) === prefix;
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      if (state === "done") {
        controller.enqueue(chunk);
        return;
      }
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let start = 0;
      for (let i = 0; i + 1 < pending.length && state !== "done"; i++) {
        if (pending[i] !== 10 || pending[i + 1] !== 10) continue;
        const frame = pending.subarray(start, i + 2);
        if (state === "due") {
          if (!startsWith(frame, "event: ping\n")) controller.enqueue(ping);
          state = "done";
        } else if (startsWith(frame, "event: content_block_start\n")) {
          state = "due";
        }
        controller.enqueue(frame);
        start = i + 2;
        i++;
      }
      pending = pending.subarray(start);
      if (state === "done" && pending.length > 0) {
        controller.enqueue(pending);
        pending = new Uint8Array(0);
      }
    },
    flush(controller) {
      if (pending.length > 0) controller.enqueue(pending);
    },
  });
}

const GONE = Symbol("client gone");

/**
 * Aborted when the client's connection closes before the answer is complete. Made from Node's
 * response rather than `c.req.raw.signal`: reading that makes @hono/node-server build a whole
 * Request and its signal for every call (measured: 30 to 60 µs of CPU per request).
 */
function clientGone(c: GatewayContext): AbortSignal {
  const outgoing = c.env.outgoing as NodeBindings["outgoing"] & { [GONE]?: AbortController };
  let controller = outgoing[GONE];
  if (!controller) {
    const made = new AbortController();
    outgoing[GONE] = made;
    outgoing.once("close", () => {
      if (!outgoing.writableFinished) made.abort(new Error("the client closed the connection"));
    });
    controller = made;
  }
  return controller.signal;
}

function promptOf(body: string): unknown {
  try {
    const json = JSON.parse(body) as { system?: unknown; messages?: unknown };
    return { system: json.system, messages: json.messages };
  } catch {
    return undefined;
  }
}
