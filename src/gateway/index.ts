/**
 * `startGateway()`: the library's transport served over HTTP, Anthropic-compatible and
 * Bedrock-compatible, with virtual keys, per-key limits and budgets, the ledger, Prometheus
 * metrics, structured logs, optional OpenTelemetry traces and a dashboard. See docs/gateway.md.
 */
import { getRequestListener } from "@hono/node-server";
import { anthropicErrorBody } from "../anthropic/errors.js";
import { type CreateClientOptions, resolveTargets } from "../client.js";
import type { GatewaySection } from "../config/gateway-settings.js";
import { loadConfigFile, mergeSettings } from "../config/settings.js";
import { runDoctor } from "../doctor/run.js";
import { shippedCatalog } from "../models/catalog.js";
import { listenDualProtocol, type RequestListener } from "../server/dual-protocol.js";
import { createTransport, type TransportControls } from "../transport/transport.js";
import type { LedgerStore } from "../usage/ledger.js";
import { openLedger } from "../usage/open-ledger.js";
import { PriceBook, shippedPrices } from "../usage/prices.js";
import { UsageRecorder } from "../usage/recorder.js";
import { mountAdmin } from "./admin.js";
import { type AdminHelpers, createGatewayApp, type PendingRequest, type ReadyState } from "./app.js";
import { hashAdminKey } from "./auth.js";
import { KeyBudgets } from "./key-budgets.js";
import { KeyLimits } from "./key-limits.js";
import { defaultKeysPath, type KeyStore, SqliteKeyStore } from "./keys.js";
import { GatewayMetrics } from "./metrics.js";
import { type LogSink, RequestLog } from "./request-log.js";
import { GatewayTracing } from "./tracing.js";

export interface StartGatewayOptions extends CreateClientOptions {
  /** Default 4000; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The virtual keys: a store, or the path of the SQLite file (default `$BEDROCK_CLAUDE_HOME/keys.db`). */
  keys?: KeyStore | { path?: string };
  /** A static admin key (default `BEDROCK_CLAUDE_ADMIN_KEY`). */
  adminKey?: string;
  /** Run without keys on a non-loopback address. */
  insecureNoAuth?: boolean;
  limits?: GatewaySection["limits"];
  logging?: GatewaySection["logging"] & { sink?: LogSink };
  otel?: GatewaySection["otel"];
  readyCacheMs?: number;
}

export interface RunningGateway {
  url: string;
  port: number;
  host: string;
  /** True when no key is needed (no keys exist and it listens on loopback, or --insecure-no-auth). */
  open(): boolean;
  keys: KeyStore;
  /** Controls over the chain's breakers (tests, drills). */
  controls: TransportControls;
  /** Stops taking requests, waits for those in flight (up to `limits.drainMs`), then closes. */
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost|::ffff:127\.\d+\.\d+\.\d+)$/;

export class GatewayConfigError extends Error {
  override readonly name = "GatewayConfigError";
}

function defined<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Gateway settings: options, then `BEDROCK_CLAUDE_*` variables, then the config file's `gateway` section. */
function gatewaySettings(options: StartGatewayOptions, env: NodeJS.ProcessEnv) {
  const file = loadConfigFile(options.configFile, env).config.gateway ?? {};
  const port =
    options.port ?? (env.BEDROCK_CLAUDE_GATEWAY_PORT ? Number(env.BEDROCK_CLAUDE_GATEWAY_PORT) : undefined);
  return {
    host: options.host ?? env.BEDROCK_CLAUDE_GATEWAY_HOST ?? file.host ?? "127.0.0.1",
    port: port ?? file.port ?? 4000,
    keysPath: env.BEDROCK_CLAUDE_KEYS ?? file.keys?.path,
    adminKey: options.adminKey ?? env.BEDROCK_CLAUDE_ADMIN_KEY ?? file.adminKey,
    insecureNoAuth: options.insecureNoAuth ?? file.insecureNoAuth ?? false,
    limits: { ...defined(file.limits), ...defined(options.limits) },
    logging: { ...defined(file.logging), ...defined(options.logging) },
    otelEndpoint: options.otel?.endpoint ?? file.otel?.endpoint ?? env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    otelService: options.otel?.serviceName ?? file.otel?.serviceName ?? env.OTEL_SERVICE_NAME,
    readyCacheMs: options.readyCacheMs ?? file.readyCacheMs ?? 30_000,
  };
}

export async function startGateway(options: StartGatewayOptions = {}): Promise<RunningGateway> {
  const env = process.env;
  const gw = gatewaySettings(options, env);
  const settings = mergeSettings(options, env);
  const log = new RequestLog({
    sink: options.logging?.sink,
    requests: gw.logging.requests,
    prompts: gw.logging.prompts,
  });
  const warn = options.warn ?? ((message: string) => log.event(message, {}, "warn"));

  const keys: KeyStore =
    options.keys && "verifyToken" in options.keys
      ? options.keys
      : new SqliteKeyStore(options.keys?.path ?? gw.keysPath ?? defaultKeysPath(env));
  const ownsKeys = !(options.keys && "verifyToken" in options.keys);
  const loopback = LOOPBACK.test(gw.host);
  if (!keys.hasKeys() && !loopback && !gw.insecureNoAuth) {
    if (ownsKeys) keys.close();
    throw new GatewayConfigError(
      `Refusing to listen on ${gw.host} without keys: anyone who can reach it could spend on your AWS account. Create a key first (bedrock-claude keys create --name NAME), or pass --insecure-no-auth if something in front of the gateway authenticates.`,
    );
  }
  // Whether keys exist is read from the store at most once a second (an indexed lookup, but one
  // per request showed in profiles); a key created or revoked through this process's store (the
  // admin API, tests) takes effect at once, one created by the CLI in another process within a
  // second.
  let openCache = { at: Number.NEGATIVE_INFINITY, generation: -1, open: false };
  const open = () => {
    const now = Date.now();
    const generation = keys.generation();
    if (now - openCache.at >= 1000 || generation !== openCache.generation) {
      openCache = { at: now, generation, open: !keys.hasKeys() && (loopback || gw.insecureNoAuth) };
    }
    return openCache.open;
  };

  const catalog = options.catalog ?? shippedCatalog();
  let ledger: LedgerStore | undefined;
  try {
    ledger = openLedger(options.ledger ?? settings.ledger, env);
  } catch (error) {
    warn(
      `bedrock-claude: the usage ledger could not be opened (${(error as Error).message}); usage is not being recorded.`,
    );
  }
  const prices = new PriceBook(shippedPrices(), [...(settings.prices ?? []), ...(options.prices ?? [])]);
  const budgets = new KeyBudgets(options.budgets ?? settings.budgets ?? [], {
    store: ledger,
    prices,
    catalog,
    warn,
  });
  const controls: TransportControls = {};
  const inFlight = { count: 0 };
  const metrics = new GatewayMetrics({
    breakerStates: () => controls.breakerStates?.() ?? {},
    budgets: () => budgets.status(),
    inFlight: () => inFlight.count,
  });
  const tracing = gw.otelEndpoint
    ? new GatewayTracing({ endpoint: gw.otelEndpoint, serviceName: gw.otelService })
    : undefined;
  const pending = new Map<string, PendingRequest>();
  const recorder = new UsageRecorder({
    store: ledger,
    prices,
    catalog,
    tag: options.tag ?? settings.tag,
    warn,
    onRecord: (entry) => {
      const request = pending.get(entry.id);
      pending.delete(entry.id);
      request?.ticket.settle(
        entry.inputTokens + entry.outputTokens + entry.cacheReadTokens + entry.cacheWriteTokens,
      );
      metrics.recorded(entry, Date.now());
      log.recorded(entry, request?.route);
      tracing?.recorded(entry, request?.route);
    },
  });
  const transport = createTransport({
    targets: resolveTargets(options, env),
    aliases: settings.aliases,
    compatibility: settings.compatibility,
    warn,
    catalog,
    upstream: options.upstream,
    discovery: options.discovery,
    resilience: options.resilience ?? settings.resilience,
    onAttempt: (attempt) => {
      metrics.attempt(attempt);
      options.onAttempt?.(attempt);
    },
    controls,
    recorder,
    budgets,
  });

  let readyCache: { at: number; state: Promise<ReadyState> } | undefined;
  const ready = (): Promise<ReadyState> => {
    const now = Date.now();
    if (!readyCache || now - readyCache.at > gw.readyCacheMs) {
      const state = runDoctor({ ...options, invoke: false })
        .then((report) => ({
          ready: report.targets.some((t) => t.ready),
          checkedAt: new Date(now).toISOString(),
          targets: report.targets.map((t) => {
            const failure = t.checks.find((c) => c.status === "fail");
            return {
              target: t.target,
              ready: t.ready,
              ...(failure ? { problem: `${failure.title}: ${failure.detail}` } : {}),
            };
          }),
        }))
        .catch((error: Error) => ({
          ready: false,
          checkedAt: new Date(now).toISOString(),
          targets: [{ target: "chain", ready: false, problem: error.message }],
        }));
      readyCache = { at: now, state };
    }
    return readyCache.state;
  };

  let draining = false;
  const app = createGatewayApp({
    transport,
    catalog,
    aliases: settings.aliases,
    keys,
    auth: { keys, open, adminKeyHash: gw.adminKey ? hashAdminKey(gw.adminKey) : null },
    limits: new KeyLimits(),
    budgets,
    metrics,
    log,
    ledger,
    maxBodyBytes: gw.limits.maxBodyBytes ?? 32 * 1024 * 1024,
    ready,
    inFlight,
    draining: () => draining,
    pending,
    extend: (routes, helpers: AdminHelpers) =>
      mountAdmin(routes, helpers, {
        keys,
        ledger,
        budgets,
        breakerStates: () => controls.breakerStates?.() ?? {},
      }),
  });
  // overrideGlobalObjects: false keeps the process's own Request/Response untouched for embedders.
  const listener = getRequestListener(app.fetch, {
    overrideGlobalObjects: false,
  }) as unknown as RequestListener;
  const server = await listenDualProtocol(
    listener,
    gw.port,
    gw.host,
    (status, reason) => ({
      contentType: "application/json",
      body: JSON.stringify(
        anthropicErrorBody(status === 431 ? "request_too_large" : "invalid_request_error", reason),
      ),
    }),
    { headersTimeoutMs: gw.limits.headersTimeoutMs ?? 30_000, keepAliveTimeoutMs: gw.limits.idleTimeoutMs },
  );
  log.event("gateway listening", {
    url: server.url,
    auth: open() ? "open" : "keys",
    ledger: ledger ? "on" : "off",
    tracing: tracing ? "on" : "off",
  });
  if (open()) {
    log.event(
      loopback
        ? "no keys exist: running open on loopback (any key or none is accepted; usage is recorded as anonymous). Create a key to require one."
        : "running open with --insecure-no-auth: any caller is accepted.",
      {},
      "warn",
    );
  }

  let closing: Promise<void> | undefined;
  return {
    url: server.url,
    port: server.port,
    host: server.host,
    open,
    keys,
    controls,
    close() {
      closing ??= (async () => {
        draining = true;
        server.stopAccepting();
        const deadline = Date.now() + (gw.limits.drainMs ?? 30_000);
        while (inFlight.count > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        await server.close();
        await tracing?.close();
        if (ownsKeys) keys.close();
        log.event("gateway stopped", { abandoned: inFlight.count });
      })();
      return closing;
    },
  };
}

export type { CreatedKey, KeyStore, VirtualKey } from "./keys.js";
export { defaultKeysPath, parseBudget, SqliteKeyStore } from "./keys.js";
