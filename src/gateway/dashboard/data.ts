/**
 * What the dashboard shows, computed for a window: sums from the ledger's reports (which read the
 * hourly rollup, so their cost does not grow with the number of requests), percentiles and throttle
 * rates from a bounded sample (see sample.ts), breakers and budgets from the running gateway.
 */
import type { BudgetStatus } from "../../usage/budgets.js";
import { emptyUsageRow, type GroupKey, type LedgerStore, type UsageRow } from "../../usage/ledger.js";
import type { AdminDeps } from "../admin.js";
import { HOUR_MS, type HourCount, percentile, sampleRequests } from "./sample.js";

const DAY_MS = 24 * HOUR_MS;
/** Series drawn per chart; the rest are summed as "other". */
export const MAX_SERIES = 8;
/** Requests read for percentiles and throttles, in all (spread over the hours of the window). */
export const SAMPLE_CAP = 10_000;
/** Hourly buckets up to this span, daily beyond. */
const HOURLY_UP_TO = 8 * DAY_MS;
/** The longest window the dashboard draws. */
export const MAX_WINDOW_MS = 93 * DAY_MS;

export type Dimension = "model" | "key" | "region";
export const DIMENSIONS: readonly Dimension[] = ["model", "key", "region"];

export interface Series {
  name: string;
  values: number[];
  total: number;
}

export interface DashboardData {
  since: string;
  until: string;
  generatedAt: string;
  bucket: "hour" | "day";
  /** Bucket starts, ms since the epoch. */
  buckets: number[];
  ledger: boolean;
  totals: Omit<UsageRow, "group"> & { tokens: number; errorRate: number | null };
  spend: Record<Dimension, Series[]>;
  tokens: Record<Dimension, Series[]>;
  rates: {
    requests: number[];
    errors: number[];
    /** errors / requests per bucket; null without requests. */
    errorRate: (number | null)[];
    /** Throttled / sampled per bucket; null without a sample. */
    throttleRate: (number | null)[];
    throttleRateOverall: number | null;
  };
  latency: {
    p50: (number | null)[];
    p95: (number | null)[];
    p50Overall: number | null;
    p95Overall: number | null;
    sampled: number;
    method: "per-hour" | "last-24h";
    perHour: number;
  };
  topKeys: {
    name: string;
    requests: number;
    errors: number;
    tokens: number;
    costUsd: number;
    unpricedRequests: number;
    share: number | null;
  }[];
  breakers: { target: string; state: string }[];
  /** With burn: (spent + reserved) / limit. */
  budgets: (BudgetStatus & { burn: number })[];
}

const tokensOf = (r: Omit<UsageRow, "group">) =>
  r.inputTokens + r.outputTokens + r.cacheWriteTokens + r.cacheReadTokens;

/** A report group's hour or day label (UTC, as the ledger writes it) as ms. */
function bucketStart(label: string, bucket: "hour" | "day"): number {
  return Date.parse(bucket === "hour" ? `${label}:00Z` : `${label}T00:00:00Z`);
}

/** Named series over the buckets: the biggest MAX_SERIES - 1 by total, the rest as "other". */
function seriesOf(
  rows: UsageRow[],
  dimension: Dimension,
  bucket: "hour" | "day",
  index: Map<number, number>,
  n: number,
  measure: (r: UsageRow) => number,
): Series[] {
  const byName = new Map<string, Series>();
  for (const row of rows) {
    const i = index.get(bucketStart(String(row.group[bucket]), bucket));
    if (i === undefined) continue;
    const name = row.group[dimension] ?? (dimension === "key" ? "(no key)" : "(unknown)");
    let s = byName.get(name);
    if (!s) {
      s = { name, values: new Array<number>(n).fill(0), total: 0 };
      byName.set(name, s);
    }
    const v = measure(row);
    s.values[i]! += v;
    s.total += v;
  }
  const sorted = [...byName.values()].sort((a, b) => b.total - a.total || (a.name < b.name ? -1 : 1));
  if (sorted.length <= MAX_SERIES) return sorted;
  const kept = sorted.slice(0, MAX_SERIES - 1);
  const other: Series = { name: "other", values: new Array<number>(n).fill(0), total: 0 };
  for (const s of sorted.slice(MAX_SERIES - 1)) {
    s.values.forEach((v, i) => {
      other.values[i]! += v;
    });
    other.total += s.total;
  }
  return [...kept, other];
}

export function dashboardData(
  deps: Pick<AdminDeps, "ledger" | "budgets" | "breakerStates">,
  window: { since: number; until: number },
  now = Date.now(),
): DashboardData {
  const { since, until } = window;
  const bucket: "hour" | "day" = until - since <= HOURLY_UP_TO ? "hour" : "day";
  const step = bucket === "hour" ? HOUR_MS : DAY_MS;
  const buckets: number[] = [];
  for (let t = Math.floor(since / step) * step; t < until; t += step) buckets.push(t);
  const index = new Map(buckets.map((t, i) => [t, i]));
  const n = buckets.length;
  const zeros = () => new Array<number>(n).fill(0);

  const ledger: LedgerStore | undefined = deps.ledger;
  const report = (by: GroupKey[]) => ledger?.report({ since, until, by }) ?? [];

  const total = report([])[0] ?? emptyUsageRow();
  const { group: _group, ...totals } = total;

  const spend = {} as Record<Dimension, Series[]>;
  const tokens = {} as Record<Dimension, Series[]>;
  for (const dimension of DIMENSIONS) {
    const rows = report([bucket, dimension]);
    spend[dimension] = seriesOf(rows, dimension, bucket, index, n, (r) => r.costUsd);
    tokens[dimension] = seriesOf(rows, dimension, bucket, index, n, tokensOf);
  }

  // Requests and errors per bucket; the hours with traffic, which the sample reads.
  const requests = zeros();
  const errors = zeros();
  const hours: HourCount[] = [];
  for (const row of report(["hour"])) {
    const start = bucketStart(String(row.group.hour), "hour");
    const i = index.get(Math.floor(start / step) * step);
    if (i !== undefined) {
      requests[i]! += row.requests;
      errors[i]! += row.errors;
    }
    hours.push({
      start: Math.max(start, since),
      end: Math.min(start + HOUR_MS, until),
      requests: row.requests,
    });
  }

  const perHour = Math.max(20, Math.floor(SAMPLE_CAP / Math.max(1, hours.length)));
  const sample = ledger
    ? sampleRequests(ledger, hours, window, perHour)
    : { requests: [], method: "per-hour" as const, perHour };
  const ttfbs: number[][] = buckets.map(() => []);
  const sampled = zeros();
  const throttled = zeros();
  const allTtfb: number[] = [];
  let allThrottled = 0;
  for (const r of sample.requests) {
    const i = index.get(Math.floor(r.time / step) * step);
    if (i === undefined) continue;
    sampled[i]!++;
    if (r.throttled) {
      throttled[i]!++;
      allThrottled++;
    }
    if (r.firstByteMs !== null && r.status < 400) {
      ttfbs[i]!.push(r.firstByteMs);
      allTtfb.push(r.firstByteMs);
    }
  }
  for (const list of ttfbs) list.sort((a, b) => a - b);
  allTtfb.sort((a, b) => a - b);

  const keyRows = report(["key"]).sort((a, b) => b.costUsd - a.costUsd || b.requests - a.requests);
  const topKeys = keyRows.slice(0, 10).map((r) => ({
    name: r.group.key ?? "(no key)",
    requests: r.requests,
    errors: r.errors,
    tokens: tokensOf(r),
    costUsd: r.costUsd,
    unpricedRequests: r.unpricedRequests,
    share: totals.costUsd > 0 ? r.costUsd / totals.costUsd : null,
  }));

  return {
    since: new Date(since).toISOString(),
    until: new Date(until).toISOString(),
    generatedAt: new Date(now).toISOString(),
    bucket,
    buckets,
    ledger: ledger !== undefined,
    totals: {
      ...totals,
      tokens: tokensOf(totals),
      errorRate: totals.requests > 0 ? totals.errors / totals.requests : null,
    },
    spend,
    tokens,
    rates: {
      requests,
      errors,
      errorRate: requests.map((r, i) => (r > 0 ? errors[i]! / r : null)),
      throttleRate: sampled.map((s, i) => (s > 0 ? throttled[i]! / s : null)),
      throttleRateOverall: sample.requests.length > 0 ? allThrottled / sample.requests.length : null,
    },
    latency: {
      p50: ttfbs.map((l) => percentile(l, 50)),
      p95: ttfbs.map((l) => percentile(l, 95)),
      p50Overall: percentile(allTtfb, 50),
      p95Overall: percentile(allTtfb, 95),
      sampled: sample.requests.length,
      method: sample.method,
      perHour: sample.perHour,
    },
    topKeys,
    breakers: Object.entries(deps.breakerStates())
      .map(([target, state]) => ({ target, state }))
      .sort((a, b) => (a.target < b.target ? -1 : 1)),
    budgets: deps.budgets.status().map((b) => ({
      ...b,
      burn: b.limitUsd > 0 ? (b.spentUsd + b.reservedUsd) / b.limitUsd : 0,
    })),
  };
}
