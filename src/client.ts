/**
 * `createClient()`: the official `Anthropic` client of `@anthropic-ai/sdk`, with our transport as
 * its `fetch`. The same `messages.create()` / `messages.stream()` code runs on Bedrock
 * (InvokeModel or the native Messages API), Bedrock Mantle, or the Anthropic API: only the
 * configuration differs.
 */
import Anthropic, { type ClientOptions as AnthropicClientOptions } from "@anthropic-ai/sdk";
import { resolveRegion } from "./aws/region.js";
import { type MergedSettings, mergeSettings } from "./config/settings.js";
import { type ModelCatalog, shippedCatalog } from "./models/catalog.js";
import type { ResiliencePolicy } from "./resilience/policy.js";
import type { AttemptRecord } from "./transport/resilient.js";
import { createTarget, type Target, type TargetOptions } from "./transport/target.js";
import { createTransport, type FetchLike, type TransportControls } from "./transport/transport.js";
import type { UpstreamFetch } from "./transport/upstream.js";
import { type Budget, BudgetTracker } from "./usage/budgets.js";
import type { LedgerStore } from "./usage/ledger.js";
import { type LedgerOption, openLedger } from "./usage/open-ledger.js";
import { type ModelPrices, PriceBook, shippedPrices } from "./usage/prices.js";
import { UsageRecorder } from "./usage/recorder.js";

export interface CreateClientOptions extends TargetOptions {
  /** The ordered failover chain; without it, one target from the options above. */
  targets?: TargetOptions[];
  /** Model aliases: `{ "fast": "claude-haiku-4-5" }`. */
  aliases?: Record<string, string>;
  /** What to do with request parts Bedrock refuses: `drop` with a warning (default) or `strict`. */
  compatibility?: "drop" | "strict";
  /** A config file (JSON); default `BEDROCK_CLAUDE_CONFIG`, else `$BEDROCK_CLAUDE_HOME/config.json` if present. */
  configFile?: string;
  /** Options passed to the `Anthropic` client as they are (timeout, maxRetries, defaultHeaders, logger...). */
  anthropic?: Omit<AnthropicClientOptions, "fetch" | "baseURL" | "apiKey" | "authToken">;
  /** Where compatibility warnings go (default: console.warn). */
  warn?: (message: string) => void;
  /** Model catalog (default: the shipped `data/models.json`). */
  catalog?: ModelCatalog;
  /** The HTTP client for upstream calls (default: undici with keep-alive and proxy support). */
  upstream?: UpstreamFetch;
  /** Ask Bedrock's control plane about model ids the catalog does not know (default true). */
  discovery?: boolean;
  /** Retries, failover, circuit breakers, limits and timeouts (docs/resilience.md). */
  resilience?: ResiliencePolicy;
  /** Called with every upstream attempt (target, status, latency, error name). */
  onAttempt?: (attempt: AttemptRecord) => void;
  /** Filled in with controls over the breakers (the drill uses it). */
  controls?: TransportControls;
  /**
   * The usage ledger: `{ path }` of a SQLite file, `{ store }`, or `false` for none. Default:
   * `BEDROCK_CLAUDE_LEDGER` (a path or `off`), else `$BEDROCK_CLAUDE_HOME/ledger.db`.
   */
  ledger?: LedgerOption;
  /** The application tag recorded with each request (per request: the `x-bedrock-claude-tag` header). */
  tag?: string;
  /** Prices to add or override (USD per million tokens), beside `data/prices.json`. */
  prices?: ModelPrices[];
  /** Daily or monthly budgets per tag, key or model; hard ones refuse requests (docs/usage.md). */
  budgets?: Budget[];
}

/** The base URL the SDK is given; the transport answers every request, so it is never dialled. */
const TRANSPORT_BASE_URL = "https://bedrock-claude.transport";

/** Resolves the configured targets (regions from options, environment or the AWS profile). */
export async function resolveTargets(
  options: CreateClientOptions = {},
  env = process.env,
): Promise<Target[]> {
  const settings = mergeSettings(options, env);
  return Promise.all(
    settings.targets.map(async (target) => {
      const region =
        target.provider === "anthropic"
          ? (target.region ?? "anthropic")
          : (await resolveRegion(target.region, target.profile)).region;
      return createTarget({ ...target, region }, env);
    }),
  );
}

/** The ledger recorder and budget tracker of a client (either may be absent). */
function accountingFor(
  options: CreateClientOptions,
  settings: MergedSettings,
): { recorder?: UsageRecorder; budgets?: BudgetTracker } {
  const warn = options.warn ?? ((m: string) => console.warn(m));
  let store: LedgerStore | undefined;
  try {
    store = openLedger(options.ledger ?? settings.ledger);
  } catch (error) {
    // A ledger that cannot open must not stop the client: say so, and run without it.
    warn(
      `bedrock-claude: the usage ledger could not be opened (${(error as Error).message}); usage is not being recorded.`,
    );
  }
  const budgetList = options.budgets ?? settings.budgets ?? [];
  if (!store && budgetList.length === 0) return {};
  const prices = new PriceBook(shippedPrices(), [...(settings.prices ?? []), ...(options.prices ?? [])]);
  const catalog = options.catalog ?? shippedCatalog();
  const recorder = new UsageRecorder({ store, prices, catalog, tag: options.tag ?? settings.tag, warn });
  const budgets =
    budgetList.length > 0 ? new BudgetTracker(budgetList, { store, prices, catalog, warn }) : undefined;
  return { recorder, budgets };
}

/** The transport alone: a `fetch` for code that wants to hand it to another client. */
export function createBedrockFetch(options: CreateClientOptions = {}): FetchLike {
  const settings = mergeSettings(options);
  return createTransport({
    targets: resolveTargets(options),
    aliases: settings.aliases,
    compatibility: settings.compatibility,
    warn: options.warn,
    catalog: options.catalog,
    upstream: options.upstream,
    discovery: options.discovery,
    resilience: options.resilience ?? settings.resilience,
    onAttempt: options.onAttempt,
    controls: options.controls,
    ...accountingFor(options, settings),
  });
}

/** The official Anthropic client, speaking to the configured provider through our transport. */
export function createClient(options: CreateClientOptions = {}): Anthropic {
  return new Anthropic({
    ...options.anthropic,
    // Our attempt loop retries and fails over; the SDK's own retries would multiply attempts.
    maxRetries: options.anthropic?.maxRetries ?? 0,
    // The transport authenticates each target itself; this placeholder never leaves the process.
    apiKey: "bedrock-claude",
    baseURL: TRANSPORT_BASE_URL,
    fetch: createBedrockFetch(options),
  });
}
