/**
 * The HTTP client for upstream calls: undici with keep-alive, honouring `HTTPS_PROXY`,
 * `HTTP_PROXY` and `NO_PROXY` when they are set (Node's built-in fetch ignores them).
 */
import { Agent, type Dispatcher, EnvHttpProxyAgent, fetch as undiciFetch } from "undici";

export type UpstreamFetch = (url: string, init: UpstreamInit) => Promise<Response>;

export interface UpstreamInit {
  method: string;
  headers: Record<string, string>;
  body?: Uint8Array | string;
  signal?: AbortSignal | null;
}

function hasProxy(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.HTTPS_PROXY ?? env.https_proxy ?? env.HTTP_PROXY ?? env.http_proxy);
}

let shared: Dispatcher | undefined;

/** One dispatcher per process: connections are pooled across clients and targets. */
export function defaultDispatcher(env = process.env): Dispatcher {
  shared ??= hasProxy(env)
    ? new EnvHttpProxyAgent({ keepAliveTimeout: 30_000 })
    : new Agent({ keepAliveTimeout: 30_000, connections: 128 });
  return shared;
}

export function createUpstreamFetch(dispatcher: Dispatcher = defaultDispatcher()): UpstreamFetch {
  return async (url, init) =>
    (await undiciFetch(url, {
      method: init.method,
      headers: init.headers,
      body: init.body,
      signal: init.signal ?? undefined,
      dispatcher,
    })) as unknown as Response;
}
