/**
 * The ledger's records and the storage interface behind them. SQLite is the default store; the
 * interface is what a PostgreSQL store for many gateway replicas implements too.
 */
import type { Usage } from "./usage.js";

/** One upstream attempt of a request, with the tokens it cost (zero when none were billed). */
export interface LedgerAttempt extends Usage {
  attempt: number;
  target: string;
  provider: string;
  region: string;
  status: number | null;
  errorName: string | null;
  verdict: string;
  latencyMs: number;
  costUsd: number | null;
}

/** One request, as the caller saw it, with what it cost in all. */
export interface LedgerRequest extends Usage {
  id: string;
  /** Start, ms since the epoch. */
  time: number;
  stream: boolean;
  /** The target that answered (or the last one tried). */
  provider: string;
  region: string;
  target: string;
  modelRequested: string;
  /** The id sent upstream (`us.anthropic.…`, `claude-…`). */
  modelResolved: string | null;
  anthropicName: string | null;
  upstreamRequestId: string | null;
  /** The gateway's virtual key, or null. */
  key: string | null;
  /** The application tag, or null. */
  tag: string | null;
  status: number;
  errorName: string | null;
  stopReason: string | null;
  /** A stream that ended before its final usage (error, cancellation). */
  partial: boolean;
  /** USD; null when no price is known (shown loudly as "unknown", never as zero). */
  costUsd: number | null;
  firstByteMs: number | null;
  totalMs: number;
  attempts: LedgerAttempt[];
  /** Answered by a target other than the first of the chain. */
  failover: boolean;
}

export type GroupKey = "model" | "day" | "hour" | "key" | "region" | "tag" | "provider";

export const GROUP_KEYS: readonly GroupKey[] = ["model", "day", "hour", "key", "region", "tag", "provider"];

export interface UsageQuery {
  /** ms since the epoch, inclusive. */
  since?: number;
  /** ms since the epoch, exclusive. */
  until?: number;
  by?: GroupKey[];
  /** Only these keys, tags or models. */
  key?: string;
  tag?: string;
  model?: string;
}

export interface UsageRow {
  group: Partial<Record<GroupKey, string | null>>;
  requests: number;
  errors: number;
  inputTokens: number;
  outputTokens: number;
  cacheWriteTokens: number;
  cacheReadTokens: number;
  /** USD of the priced requests. */
  costUsd: number;
  /** Requests whose cost is unknown (no price): their tokens are counted, their cost is not. */
  unpricedRequests: number;
  /** Answers cut by max_tokens. */
  maxTokensStops: number;
  retries: number;
  failovers: number;
}

/** The totals of a window with no requests. */
export function emptyUsageRow(): UsageRow {
  return {
    group: {},
    requests: 0,
    errors: 0,
    inputTokens: 0,
    outputTokens: 0,
    cacheWriteTokens: 0,
    cacheReadTokens: 0,
    costUsd: 0,
    unpricedRequests: 0,
    maxTokensStops: 0,
    retries: 0,
    failovers: 0,
  };
}

export interface LedgerStore {
  /** Writes a request and its attempts durably before returning. */
  record(entry: LedgerRequest): void;
  report(query: UsageQuery): UsageRow[];
  /** Every request in a window, oldest first (for advice and exports). */
  requests(query: UsageQuery): LedgerRequest[];
  close(): void;
}
