/**
 * The HTTP client for upstream calls: undici with keep-alive, honouring `HTTPS_PROXY`,
 * `HTTP_PROXY` and `NO_PROXY` when they are set (Node's built-in fetch ignores them), with the
 * connect, first-byte and idle timeouts of the resilience policy.
 */
import { Agent, type Dispatcher, EnvHttpProxyAgent } from "undici";
import { sourceStream } from "./source-stream.js";

export type UpstreamFetch = (url: string, init: UpstreamInit) => Promise<Response>;

export interface UpstreamInit {
  method: string;
  headers: Record<string, string>;
  body?: Uint8Array | string;
  signal?: AbortSignal | null;
}

export interface UpstreamTimeouts {
  /** TCP and TLS connection, ms (default 10 s). */
  connectMs?: number;
  /** From the request sent to the response headers, ms (default 60 s). */
  firstByteMs?: number;
  /** Longest silence between two chunks of a body (stream events), ms (default 60 s). */
  idleMs?: number;
}

function hasProxy(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.HTTPS_PROXY ?? env.https_proxy ?? env.HTTP_PROXY ?? env.http_proxy);
}

const dispatchers = new Map<string, Dispatcher>();

/** One dispatcher per distinct timeouts, shared across clients: connections are pooled. */
export function dispatcherFor(timeouts: UpstreamTimeouts = {}, env = process.env): Dispatcher {
  const connectMs = timeouts.connectMs ?? 10_000;
  const firstByteMs = timeouts.firstByteMs ?? 60_000;
  const idleMs = timeouts.idleMs ?? 60_000;
  const proxy = hasProxy(env);
  const key = `${connectMs}|${firstByteMs}|${idleMs}|${proxy}`;
  let dispatcher = dispatchers.get(key);
  if (!dispatcher) {
    const options = {
      keepAliveTimeout: 30_000,
      // No cap per origin: a stream holds its connection for its whole answer (minutes on long
      // generations), and a cap queued the rest behind it (measured: 1,000 concurrent streams
      // through the gateway ran 128 at a time). Concurrency is bounded by the callers and the
      // resilience policy's limits instead.
      connections: null,
      connect: { timeout: connectMs },
      headersTimeout: firstByteMs,
      bodyTimeout: idleMs,
    };
    dispatcher = proxy ? new EnvHttpProxyAgent(options) : new Agent(options);
    dispatchers.set(key, dispatcher);
  }
  return dispatcher;
}

/**
 * A fetch-shaped call made with undici's `request()` rather than its `fetch()`: the body, always
 * bytes here, goes out with the headers in one write, and no WHATWG Request is built. Measured on
 * the gateway's hot path: fetch sent the body as an async iterable in writes of its own, and its
 * Request/stream plumbing cost about a third of the gateway's CPU per call.
 */
/**
 * Answers whose whole body was read at once, with their bytes: whoever needs the content (the
 * ledger, for usage) reads these instead of consuming the body and making a new Response around
 * it (measured: making that second Response, a web stream and its transfer setup, was most of
 * what recording a JSON answer cost end to end).
 */
const wholeBodies = new WeakMap<Response, Uint8Array>();

/** A Response over bytes already in hand, remembered as such. */
export function wholeResponse(bytes: Uint8Array, init: ResponseInit): Response {
  const response = new Response(bytes as Uint8Array<ArrayBuffer>, init);
  wholeBodies.set(response, bytes);
  return response;
}

/** The bytes of a whole answer's body, without consuming it; undefined for streams and others. */
export function wholeBodyOf(response: Response): Uint8Array | undefined {
  return response.bodyUsed ? undefined : wholeBodies.get(response);
}

/**
 * The plain header records (lower-case names) the transport made its answers from. The ledger
 * reads an answer's usage headers, model and request id from here rather than through `Headers`
 * (each `get` checks, normalises and searches the name; measured in a micro-benchmark: 0.2 us a
 * `get`, 1.2 us for the four token-count headers). Only what was set when the answer was made is here.
 */
const madeHeaders = new WeakMap<Response, Record<string, string>>();

/** A Response the transport makes from a plain header record, remembered for `headerOf`. */
export function madeResponse(
  body: Uint8Array | ReadableStream<Uint8Array> | null,
  status: number,
  headers: Record<string, string>,
): Response {
  const response =
    body instanceof Uint8Array
      ? wholeResponse(body, { status, headers })
      : new Response(body, { status, headers });
  madeHeaders.set(response, headers);
  return response;
}

/** A header the transport set when it made `response` (by its lower-case name), else from its Headers. */
export function headerOf(response: Response, name: string): string | null {
  const made = madeHeaders.get(response);
  return made ? (made[name] ?? null) : response.headers.get(name);
}

export function createUpstreamFetch(dispatcher: Dispatcher = dispatcherFor()): UpstreamFetch {
  return async (url, init) => {
    const target = new URL(url);
    const answer = await dispatcher.request({
      origin: target.origin,
      path: `${target.pathname}${target.search}`,
      method: init.method as Dispatcher.HttpMethod,
      headers: init.headers,
      body: typeof init.body === "string" ? Buffer.from(init.body) : init.body,
      signal: init.signal ?? undefined,
    });
    const headers = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const v of value) headers.append(name, v);
      else headers.set(name, value);
    }
    // A status without a body (204, 304) cannot be given one.
    if (answer.statusCode === 204 || answer.statusCode === 304) {
      answer.body.resume();
      return new Response(null, { status: answer.statusCode, headers });
    }
    // Streams are handed on as they arrive; a whole answer (JSON, an error) is read at once by
    // undici's own reader, cheaper than a web stream over it (measured on the gateway's hot path).
    const type = headers.get("content-type") ?? "";
    if (!type.includes("eventstream") && !type.includes("event-stream")) {
      return wholeResponse(new Uint8Array(await answer.body.arrayBuffer()), {
        status: answer.statusCode,
        headers,
      });
    }
    // One stream layer over undici's body, lazy: the transport may take the Node stream itself.
    return new Response(sourceStream(answer.body), { status: answer.statusCode, headers });
  };
}
