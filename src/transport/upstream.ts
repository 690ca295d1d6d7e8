/**
 * The HTTP client for upstream calls: undici with keep-alive, honouring `HTTPS_PROXY`,
 * `HTTP_PROXY` and `NO_PROXY` when they are set (Node's built-in fetch ignores them), with the
 * connect, first-byte and idle timeouts of the resilience policy.
 */
import { Agent, type Dispatcher, EnvHttpProxyAgent, fetch as undiciFetch } from "undici";

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
      connections: 128,
      connect: { timeout: connectMs },
      headersTimeout: firstByteMs,
      bodyTimeout: idleMs,
    };
    dispatcher = proxy ? new EnvHttpProxyAgent(options) : new Agent(options);
    dispatchers.set(key, dispatcher);
  }
  return dispatcher;
}

export function createUpstreamFetch(dispatcher: Dispatcher = dispatcherFor()): UpstreamFetch {
  return async (url, init) =>
    (await undiciFetch(url, {
      method: init.method,
      headers: init.headers,
      body: init.body,
      signal: init.signal ?? undefined,
      dispatcher,
    })) as unknown as Response;
}
