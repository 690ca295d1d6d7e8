/**
 * A bounded sample of requests for what the hourly rollup cannot sum: time-to-first-byte
 * percentiles and throttles (a throttle retried away is only visible in a request's attempts).
 *
 * Reading every request of a window is too heavy on a big ledger (`requests()` on a million rows
 * maps a million objects), so the sample takes at most `perHour` requests from each hour that had
 * traffic (the hours and their counts come from the rollup): an hour with fewer requests is read
 * whole, exactly; a busier one contributes its first `perHour`. On the SQLite ledger the cut is
 * found with one indexed query (`time` is indexed in every schema version) on a read-only
 * connection, and the rows are then read through the store's own `requests()`, so the sample
 * never depends on how attempts are stored. Other stores get the last 24 hours of the window.
 */
import Database from "better-sqlite3";
import type { LedgerRequest, LedgerStore } from "../../usage/ledger.js";
import { SqliteLedger } from "../../usage/sqlite-ledger.js";

export const HOUR_MS = 3_600_000;

/** One sampled request, reduced to what the dashboard needs. */
export interface SampledRequest {
  time: number;
  status: number;
  firstByteMs: number | null;
  throttled: boolean;
}

export interface HourCount {
  /** Start of the hour (or of the window, for a partial first hour), ms. */
  start: number;
  /** End, exclusive. */
  end: number;
  requests: number;
}

/** A request met a throttle: answered 429 / ThrottlingException, or an attempt of it was. */
export function wasThrottled(request: LedgerRequest): boolean {
  const throttle = (status: number | null, errorName: string | null) =>
    status === 429 || (errorName !== null && /throttl/i.test(errorName));
  return (
    throttle(request.status, request.errorName) ||
    request.attempts.some((a) => throttle(a.status, a.errorName))
  );
}

function reduce(request: LedgerRequest): SampledRequest {
  return {
    time: request.time,
    status: request.status,
    firstByteMs: request.firstByteMs,
    throttled: wasThrottled(request),
  };
}

export interface Sample {
  requests: SampledRequest[];
  /** How the sample was taken, for the page. */
  method: "per-hour" | "last-24h";
  perHour: number;
}

export function sampleRequests(
  ledger: LedgerStore,
  hours: HourCount[],
  window: { since: number; until: number },
  perHour: number,
): Sample {
  if (ledger instanceof SqliteLedger && ledger.file !== ":memory:") {
    const db = new Database(ledger.file, { readonly: true, fileMustExist: true });
    try {
      const cutAt = db
        .prepare("SELECT time FROM requests WHERE time >= ? AND time < ? ORDER BY time LIMIT 1 OFFSET ?")
        .pluck();
      const requests: SampledRequest[] = [];
      for (const hour of hours) {
        if (hour.requests === 0) continue;
        let until = hour.end;
        if (hour.requests > perHour) {
          const cut = cutAt.get(hour.start, hour.end, perHour) as number | undefined;
          if (cut !== undefined) until = Math.max(cut, hour.start + 1);
        }
        for (const r of ledger.requests({ since: hour.start, until })) requests.push(reduce(r));
      }
      return { requests, method: "per-hour", perHour };
    } finally {
      db.close();
    }
  }
  const since = Math.max(window.since, window.until - 24 * HOUR_MS);
  const taken = new Map<number, number>();
  const requests: SampledRequest[] = [];
  for (const r of ledger.requests({ since, until: window.until })) {
    const hour = Math.floor(r.time / HOUR_MS);
    const n = taken.get(hour) ?? 0;
    if (n >= perHour) continue;
    taken.set(hour, n + 1);
    requests.push(reduce(r));
  }
  return { requests, method: "last-24h", perHour };
}

/** Nearest-rank percentile of sorted values; null when there are none. */
export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}
