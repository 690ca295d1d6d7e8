/**
 * The gateway's Prometheus metrics (prom-client), in a registry of its own so that several
 * gateways in one process (tests, embedders) never mix counts. Tokens, cost and latency come from
 * the ledger's records, so `/metrics` and `bedrock-claude usage` always agree; HTTP statuses come
 * from the server, so refusals that never reach the ledger (auth, limits, size) are counted too.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { AttemptRecord } from "../transport/resilient.js";
import type { LedgerRequest } from "../usage/ledger.js";
import { ANONYMOUS } from "./auth.js";

/** Latency buckets, seconds: from sub-millisecond (the emulator, cache hits) to long generations. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export interface MetricsSources {
  breakerStates: () => Record<string, string>;
  budgets: () => { label: string; limitUsd: number; spentUsd: number; reservedUsd: number }[];
  inFlight: () => number;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly httpRequests: Counter<"route" | "status">;
  private readonly requests: Counter<"model" | "key" | "status">;
  private readonly tokens: Counter<"model" | "key" | "type">;
  private readonly cost: Counter<"model" | "key">;
  private readonly unpriced: Counter<"model">;
  private readonly duration: Histogram<"model" | "stream">;
  private readonly firstByte: Histogram<"model" | "stream">;
  private readonly attempts: Counter<"target" | "outcome">;
  private readonly attemptDuration: Histogram<"target">;
  private readonly refusals: Counter<"reason">;
  private readonly ledgerLag: Gauge;
  private readonly ledgerLagHistogram: Histogram;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Counter<L>({ name, help, labelNames, registers });
    const latency = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Histogram<L>({ name, help, labelNames, buckets: LATENCY_BUCKETS, registers });
    this.httpRequests = counter(
      "bedrock_claude_http_requests_total",
      "HTTP requests answered by the gateway, by route and status",
      ["route", "status"],
    );
    this.requests = counter(
      "bedrock_claude_requests_total",
      "Model requests recorded in the ledger, by model, key and status",
      ["model", "key", "status"],
    );
    this.tokens = counter(
      "bedrock_claude_tokens_total",
      "Tokens billed, by model, key and type (input, output, cache_read, cache_write)",
      ["model", "key", "type"],
    );
    this.cost = counter("bedrock_claude_cost_usd_total", "Cost in USD of priced requests, by model and key", [
      "model",
      "key",
    ]);
    this.unpriced = counter(
      "bedrock_claude_unpriced_requests_total",
      "Requests with tokens but no known price (cost unknown)",
      ["model"],
    );
    this.duration = latency(
      "bedrock_claude_request_duration_seconds",
      "Whole request time, through the last byte of the answer",
      ["model", "stream"],
    );
    this.firstByte = latency(
      "bedrock_claude_time_to_first_byte_seconds",
      "Time until the answer's first byte (for streams: until the stream began)",
      ["model", "stream"],
    );
    this.attempts = counter(
      "bedrock_claude_upstream_attempts_total",
      "Upstream attempts by target and outcome (success, retry, failover, fail, skipped)",
      ["target", "outcome"],
    );
    this.attemptDuration = latency(
      "bedrock_claude_upstream_attempt_duration_seconds",
      "Upstream attempt time until its answer's headers",
      ["target"],
    );
    this.refusals = counter(
      "bedrock_claude_refusals_total",
      "Requests refused by the gateway before any upstream call, by reason",
      ["reason"],
    );
    this.ledgerLag = new Gauge({
      name: "bedrock_claude_ledger_lag_seconds",
      help: "For the last recorded request: from the end of its answer to its record being written",
      registers,
    });
    this.ledgerLagHistogram = new Histogram({
      name: "bedrock_claude_ledger_lag_distribution_seconds",
      help: "From the end of an answer to its record being written",
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.025, 0.1, 1],
      registers,
    });
    new Gauge({
      name: "bedrock_claude_breaker_state",
      help: "Circuit breaker state per target: 1 for the current state (closed, open, half-open, off)",
      labelNames: ["target", "state"],
      registers,
      collect() {
        this.reset();
        for (const [target, state] of Object.entries(sources.breakerStates())) {
          for (const s of ["closed", "open", "half-open"])
            this.set({ target, state: s }, s === state ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: "bedrock_claude_in_flight_requests",
      help: "Requests being answered now",
      registers,
      collect() {
        this.set(sources.inFlight());
      },
    });
    new Gauge({
      name: "bedrock_claude_budget_usd",
      help: "Budgets: limit, spent and reserved (in flight) USD in the current period",
      labelNames: ["budget", "kind"],
      registers,
      collect() {
        this.reset();
        for (const b of sources.budgets()) {
          this.set({ budget: b.label, kind: "limit" }, b.limitUsd);
          this.set({ budget: b.label, kind: "spent" }, b.spentUsd);
          this.set({ budget: b.label, kind: "reserved" }, b.reservedUsd);
        }
      },
    });
  }

  http(route: string, status: number): void {
    this.httpRequests.inc({ route, status: String(status) });
  }

  refused(reason: string): void {
    this.refusals.inc({ reason });
  }

  attempt(record: AttemptRecord): void {
    this.attempts.inc({ target: record.target, outcome: record.verdict });
    if (record.verdict !== "skipped")
      this.attemptDuration.observe({ target: record.target }, record.latencyMs / 1000);
  }

  recorded(entry: LedgerRequest, writtenAt: number): void {
    const model = entry.anthropicName ?? entry.modelRequested;
    const key = entry.key ?? ANONYMOUS;
    this.requests.inc({ model, key, status: String(entry.status) });
    const types = [
      ["input", entry.inputTokens],
      ["output", entry.outputTokens],
      ["cache_read", entry.cacheReadTokens],
      ["cache_write", entry.cacheWriteTokens],
    ] as const;
    for (const [type, count] of types) if (count > 0) this.tokens.inc({ model, key, type }, count);
    if (entry.costUsd !== null) this.cost.inc({ model, key }, entry.costUsd);
    else this.unpriced.inc({ model });
    const stream = String(entry.stream);
    this.duration.observe({ model, stream }, entry.totalMs / 1000);
    if (entry.firstByteMs !== null) this.firstByte.observe({ model, stream }, entry.firstByteMs / 1000);
    const lag = Math.max(0, writtenAt - (entry.time + entry.totalMs)) / 1000;
    this.ledgerLag.set(lag);
    this.ledgerLagHistogram.observe(lag);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
