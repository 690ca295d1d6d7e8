/**
 * The ledger in SQLite (better-sqlite3, WAL). A write is one short transaction: in WAL mode with
 * `synchronous = NORMAL` a committed write survives the process being killed (SIGKILL), so a
 * completed request is never lost, and it costs microseconds, so recording stays on the response
 * path without slowing it. Schema changes are numbered migrations tracked in `user_version`.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type { GroupKey, LedgerAttempt, LedgerRequest, LedgerStore, UsageQuery, UsageRow } from "./ledger.js";

const HOUR_MS = 3_600_000;

/** The rollup's grouping and sums over rows of `requests` (used by the backfill and the trigger). */
const ROLLUP_SELECT = `time / ${HOUR_MS}, provider, region, COALESCE(anthropic_name, model_resolved, model_requested),
  COALESCE(key, ''), COALESCE(tag, ''), COUNT(*), SUM(status >= 400 OR status = 0), SUM(input_tokens), SUM(output_tokens),
  SUM(cache_write_tokens), SUM(cache_read_tokens), TOTAL(cost_usd),
  SUM(cost_usd IS NULL AND (input_tokens + output_tokens) > 0), SUM(stop_reason IS 'max_tokens'), SUM(attempts - 1),
  SUM(failover)`;

/** Numbered migrations: index + 1 is the schema version. Append, never edit. */
export const MIGRATIONS: string[] = [
  `CREATE TABLE requests (
     id TEXT PRIMARY KEY,
     time INTEGER NOT NULL,
     stream INTEGER NOT NULL,
     provider TEXT NOT NULL,
     region TEXT NOT NULL,
     target TEXT NOT NULL,
     model_requested TEXT NOT NULL,
     model_resolved TEXT,
     anthropic_name TEXT,
     upstream_request_id TEXT,
     key TEXT,
     tag TEXT,
     status INTEGER NOT NULL,
     error_name TEXT,
     stop_reason TEXT,
     partial INTEGER NOT NULL,
     input_tokens INTEGER NOT NULL,
     output_tokens INTEGER NOT NULL,
     cache_write_tokens INTEGER NOT NULL,
     cache_write_1h_tokens INTEGER NOT NULL,
     cache_read_tokens INTEGER NOT NULL,
     cost_usd REAL,
     first_byte_ms INTEGER,
     total_ms INTEGER NOT NULL,
     attempts INTEGER NOT NULL,
     failover INTEGER NOT NULL
   );
   CREATE INDEX requests_time ON requests (time);
   CREATE TABLE attempts (
     request_id TEXT NOT NULL REFERENCES requests (id),
     attempt INTEGER NOT NULL,
     target TEXT NOT NULL,
     provider TEXT NOT NULL,
     region TEXT NOT NULL,
     status INTEGER,
     error_name TEXT,
     verdict TEXT NOT NULL,
     latency_ms INTEGER NOT NULL,
     input_tokens INTEGER NOT NULL,
     output_tokens INTEGER NOT NULL,
     cache_write_tokens INTEGER NOT NULL,
     cache_write_1h_tokens INTEGER NOT NULL,
     cache_read_tokens INTEGER NOT NULL,
     cost_usd REAL,
     PRIMARY KEY (request_id, attempt)
   );`,
  // 2: attempts keyed by their position: a target skipped by an open breaker is listed without
  // taking an attempt number of its own, so (request_id, attempt) was not unique.
  `CREATE TABLE attempts_v2 (
     request_id TEXT NOT NULL REFERENCES requests (id),
     seq INTEGER NOT NULL,
     attempt INTEGER NOT NULL,
     target TEXT NOT NULL,
     provider TEXT NOT NULL,
     region TEXT NOT NULL,
     status INTEGER,
     error_name TEXT,
     verdict TEXT NOT NULL,
     latency_ms INTEGER NOT NULL,
     input_tokens INTEGER NOT NULL,
     output_tokens INTEGER NOT NULL,
     cache_write_tokens INTEGER NOT NULL,
     cache_write_1h_tokens INTEGER NOT NULL,
     cache_read_tokens INTEGER NOT NULL,
     cost_usd REAL,
     PRIMARY KEY (request_id, seq)
   );
   INSERT INTO attempts_v2
     SELECT request_id, attempt, attempt, target, provider, region, status, error_name, verdict, latency_ms,
            input_tokens, output_tokens, cache_write_tokens, cache_write_1h_tokens, cache_read_tokens, cost_usd
     FROM attempts;
   DROP TABLE attempts;
   ALTER TABLE attempts_v2 RENAME TO attempts;`,
  // 3: an hourly rollup, kept by a trigger in the insert's own transaction, so that reports over
  // millions of requests read thousands of rows (measured: 1.1 s -> well under 0.1 s over 1M).
  `CREATE TABLE usage_hourly (
     hour INTEGER NOT NULL,
     provider TEXT NOT NULL,
     region TEXT NOT NULL,
     model TEXT NOT NULL,
     key TEXT NOT NULL,
     tag TEXT NOT NULL,
     requests INTEGER NOT NULL,
     errors INTEGER NOT NULL,
     input_tokens INTEGER NOT NULL,
     output_tokens INTEGER NOT NULL,
     cache_write_tokens INTEGER NOT NULL,
     cache_read_tokens INTEGER NOT NULL,
     cost_usd REAL NOT NULL,
     unpriced INTEGER NOT NULL,
     max_tokens_stops INTEGER NOT NULL,
     retries INTEGER NOT NULL,
     failovers INTEGER NOT NULL,
     PRIMARY KEY (hour, provider, region, model, key, tag)
   ) WITHOUT ROWID;
   INSERT INTO usage_hourly
     SELECT ${ROLLUP_SELECT} FROM requests GROUP BY 1, 2, 3, 4, 5, 6;
   CREATE TRIGGER requests_rollup AFTER INSERT ON requests BEGIN
     INSERT INTO usage_hourly VALUES (
       NEW.time / ${HOUR_MS}, NEW.provider, NEW.region, COALESCE(NEW.anthropic_name, NEW.model_resolved, NEW.model_requested),
       COALESCE(NEW.key, ''), COALESCE(NEW.tag, ''), 1, (NEW.status >= 400 OR NEW.status = 0), NEW.input_tokens,
       NEW.output_tokens, NEW.cache_write_tokens, NEW.cache_read_tokens, COALESCE(NEW.cost_usd, 0),
       (NEW.cost_usd IS NULL AND (NEW.input_tokens + NEW.output_tokens) > 0), (NEW.stop_reason IS 'max_tokens'),
       NEW.attempts - 1, NEW.failover)
     ON CONFLICT (hour, provider, region, model, key, tag) DO UPDATE SET
       requests = requests + excluded.requests,
       errors = errors + excluded.errors,
       input_tokens = input_tokens + excluded.input_tokens,
       output_tokens = output_tokens + excluded.output_tokens,
       cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
       cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
       cost_usd = cost_usd + excluded.cost_usd,
       unpriced = unpriced + excluded.unpriced,
       max_tokens_stops = max_tokens_stops + excluded.max_tokens_stops,
       retries = retries + excluded.retries,
       failovers = failovers + excluded.failovers;
   END;`,
];

export const LEDGER_SCHEMA_VERSION = MIGRATIONS.length;

const GROUP_SQL: Record<GroupKey, string> = {
  model: "COALESCE(anthropic_name, model_resolved, model_requested)",
  day: "strftime('%Y-%m-%d', time / 1000, 'unixepoch')",
  hour: "strftime('%Y-%m-%dT%H:00', time / 1000, 'unixepoch')",
  key: "key",
  region: "region",
  tag: "tag",
  provider: "provider",
};

interface RequestRow {
  id: string;
  time: number;
  stream: number;
  provider: string;
  region: string;
  target: string;
  model_requested: string;
  model_resolved: string | null;
  anthropic_name: string | null;
  upstream_request_id: string | null;
  key: string | null;
  tag: string | null;
  status: number;
  error_name: string | null;
  stop_reason: string | null;
  partial: number;
  input_tokens: number;
  output_tokens: number;
  cache_write_tokens: number;
  cache_write_1h_tokens: number;
  cache_read_tokens: number;
  cost_usd: number | null;
  first_byte_ms: number | null;
  total_ms: number;
  attempts: number;
  failover: number;
}

type Measure = Exclude<keyof UsageRow, "group">;

/** Each sum a report gives: its SQL over raw requests and over the hourly rollup. */
const MEASURES: { field: Measure; raw: string; rolled: string }[] = [
  { field: "requests", raw: "COUNT(*)", rolled: "SUM(requests)" },
  { field: "errors", raw: "SUM(status >= 400 OR status = 0)", rolled: "SUM(errors)" },
  { field: "inputTokens", raw: "SUM(input_tokens)", rolled: "SUM(input_tokens)" },
  { field: "outputTokens", raw: "SUM(output_tokens)", rolled: "SUM(output_tokens)" },
  { field: "cacheWriteTokens", raw: "SUM(cache_write_tokens)", rolled: "SUM(cache_write_tokens)" },
  { field: "cacheReadTokens", raw: "SUM(cache_read_tokens)", rolled: "SUM(cache_read_tokens)" },
  { field: "costUsd", raw: "TOTAL(cost_usd)", rolled: "TOTAL(cost_usd)" },
  {
    field: "unpricedRequests",
    raw: "SUM(cost_usd IS NULL AND (input_tokens + output_tokens) > 0)",
    rolled: "SUM(unpriced)",
  },
  { field: "maxTokensStops", raw: "SUM(stop_reason IS 'max_tokens')", rolled: "SUM(max_tokens_stops)" },
  { field: "retries", raw: "SUM(attempts - 1)", rolled: "SUM(retries)" },
  { field: "failovers", raw: "SUM(failover)", rolled: "SUM(failovers)" },
];

function measuresOf(row: Record<string, number | string | null>): Omit<UsageRow, "group"> {
  return Object.fromEntries(MEASURES.map(({ field }) => [field, Number(row[field] ?? 0)])) as Omit<
    UsageRow,
    "group"
  >;
}

export class SqliteLedger implements LedgerStore {
  private readonly db: Database.Database;
  private readonly insertRequest: Database.Statement;
  private readonly insertAttempt: Database.Statement;
  private readonly write: (entry: LedgerRequest) => void;

  constructor(readonly file: string) {
    if (file !== ":memory:") mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("busy_timeout = 5000");
    this.migrate();
    this.insertRequest = this.db.prepare(
      `INSERT INTO requests VALUES (@id, @time, @stream, @provider, @region, @target, @modelRequested, @modelResolved,
        @anthropicName, @upstreamRequestId, @key, @tag, @status, @errorName, @stopReason, @partial, @inputTokens,
        @outputTokens, @cacheWriteTokens, @cacheWrite1hTokens, @cacheReadTokens, @costUsd, @firstByteMs, @totalMs,
        @attemptCount, @failover)`,
    );
    this.insertAttempt = this.db.prepare(
      `INSERT INTO attempts VALUES (@requestId, @seq, @attempt, @target, @provider, @region, @status, @errorName, @verdict,
        @latencyMs, @inputTokens, @outputTokens, @cacheWriteTokens, @cacheWrite1hTokens, @cacheReadTokens, @costUsd)`,
    );
    this.write = this.db.transaction((entry: LedgerRequest) => {
      this.insertRequest.run({
        ...entry,
        stream: entry.stream ? 1 : 0,
        partial: entry.partial ? 1 : 0,
        failover: entry.failover ? 1 : 0,
        attemptCount: entry.attempts.length,
      });
      entry.attempts.forEach((attempt, i) => {
        this.insertAttempt.run({ ...attempt, requestId: entry.id, seq: i + 1 });
      });
    });
  }

  private migrate(): void {
    const current = this.db.pragma("user_version", { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new Error(
        `The ledger ${this.file} has schema version ${current}, newer than this bedrock-claude knows (${MIGRATIONS.length}): upgrade bedrock-claude.`,
      );
    }
    for (let version = current; version < MIGRATIONS.length; version++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[version]!);
        this.db.pragma(`user_version = ${version + 1}`);
      })();
    }
  }

  record(entry: LedgerRequest): void {
    this.write(entry);
  }

  private where(query: UsageQuery): { sql: string; params: Record<string, unknown> } {
    const clauses: string[] = [];
    const params: Record<string, unknown> = {};
    if (query.since !== undefined) {
      clauses.push("time >= @since");
      params.since = query.since;
    }
    if (query.until !== undefined) {
      clauses.push("time < @until");
      params.until = query.until;
    }
    for (const field of ["key", "tag"] as const) {
      if (query[field] !== undefined) {
        clauses.push(`${field} = @${field}`);
        params[field] = query[field];
      }
    }
    if (query.model !== undefined) {
      clauses.push(`${GROUP_SQL.model} = @model`);
      params.model = query.model;
    }
    return { sql: clauses.length > 0 ? `WHERE ${clauses.join(" AND ")}` : "", params };
  }

  /**
   * Sums over whole hours come from the rollup; the partial hours at the window's edges from the
   * raw table; the two are merged by group.
   */
  report(query: UsageQuery): UsageRow[] {
    const by = query.by ?? [];
    const firstHour = query.since === undefined ? undefined : Math.ceil(query.since / HOUR_MS);
    const endHour = query.until === undefined ? undefined : Math.floor(query.until / HOUR_MS);
    const parts: Record<string, number | string | null>[] = [];
    if (firstHour === undefined || endHour === undefined || firstHour < endHour) {
      parts.push(...this.reportRollup(by, query, firstHour, endHour));
      if (query.since !== undefined && firstHour !== undefined) {
        parts.push(
          ...this.reportRaw(by, {
            ...query,
            until: Math.min(firstHour * HOUR_MS, query.until ?? Number.POSITIVE_INFINITY),
          }),
        );
      }
      if (query.until !== undefined && endHour !== undefined) {
        parts.push(...this.reportRaw(by, { ...query, since: Math.max(endHour * HOUR_MS, query.since ?? 0) }));
      }
    } else {
      parts.push(...this.reportRaw(by, query));
    }
    const merged = new Map<string, UsageRow>();
    for (const row of parts) {
      if (Number(row.requests ?? 0) === 0) continue;
      const id = JSON.stringify(by.map((_, i) => row[`g${i}`]));
      const existing = merged.get(id);
      if (!existing) {
        const group = Object.fromEntries(by.map((key, i) => [key, row[`g${i}`] as string | null]));
        merged.set(id, { group, ...measuresOf(row) });
        continue;
      }
      for (const { field } of MEASURES) existing[field] += Number(row[field] ?? 0);
    }
    const rows = [...merged.values()];
    // Totals always come as one row, zeros when nothing matched.
    if (by.length === 0 && rows.length === 0) return [{ group: {}, ...measuresOf({}) }];
    return rows.sort((a, b) => {
      for (const key of by) {
        const x = a.group[key] ?? "";
        const y = b.group[key] ?? "";
        if (x !== y) return x < y ? -1 : 1;
      }
      return 0;
    });
  }

  private reportRaw(by: GroupKey[], query: UsageQuery): Record<string, number | string | null>[] {
    const { sql, params } = this.where(query);
    const groups = by.map((key, i) => `${GROUP_SQL[key]} AS g${i}`);
    return this.db
      .prepare(
        `SELECT ${[...groups, ...MEASURES.map((m) => `${m.raw} AS ${m.field}`)].join(", ")}
         FROM requests ${sql}
         ${by.length > 0 ? `GROUP BY ${by.map((_, i) => `g${i}`).join(", ")}` : ""}`,
      )
      .all(params) as Record<string, number | string | null>[];
  }

  private reportRollup(
    by: GroupKey[],
    query: UsageQuery,
    firstHour: number | undefined,
    endHour: number | undefined,
  ): Record<string, number | string | null>[] {
    const clauses: string[] = [];
    const params: Record<string, unknown> = {};
    if (firstHour !== undefined) {
      clauses.push("hour >= @firstHour");
      params.firstHour = firstHour;
    }
    if (endHour !== undefined) {
      clauses.push("hour < @endHour");
      params.endHour = endHour;
    }
    for (const field of ["key", "tag", "model"] as const) {
      if (query[field] !== undefined) {
        clauses.push(`${field} = @${field}`);
        params[field] = query[field];
      }
    }
    const groupSql: Record<GroupKey, string> = {
      model: "model",
      day: `strftime('%Y-%m-%d', hour * 3600, 'unixepoch')`,
      hour: `strftime('%Y-%m-%dT%H:00', hour * 3600, 'unixepoch')`,
      key: "NULLIF(key, '')",
      region: "region",
      tag: "NULLIF(tag, '')",
      provider: "provider",
    };
    const groups = by.map((key, i) => `${groupSql[key]} AS g${i}`);
    return this.db
      .prepare(
        `SELECT ${[...groups, ...MEASURES.map((m) => `${m.rolled} AS ${m.field}`)].join(", ")}
         FROM usage_hourly ${clauses.length > 0 ? `WHERE ${clauses.join(" AND ")}` : ""}
         ${by.length > 0 ? `GROUP BY ${by.map((_, i) => `g${i}`).join(", ")}` : ""}`,
      )
      .all(params) as Record<string, number | string | null>[];
  }

  requests(query: UsageQuery): LedgerRequest[] {
    const { sql, params } = this.where(query);
    const rows = this.db.prepare(`SELECT * FROM requests ${sql} ORDER BY time`).all(params) as RequestRow[];
    // One query for all the window's attempts, not one per request.
    const byRequest = new Map<string, Record<string, unknown>[]>();
    const attemptRows = this.db
      .prepare(
        `SELECT * FROM attempts WHERE request_id IN (SELECT id FROM requests ${sql}) ORDER BY request_id, seq`,
      )
      .all(params) as Record<string, unknown>[];
    for (const a of attemptRows) {
      const list = byRequest.get(a.request_id as string) ?? [];
      list.push(a);
      byRequest.set(a.request_id as string, list);
    }
    return rows.map((r) => ({
      id: r.id,
      time: r.time,
      stream: r.stream === 1,
      provider: r.provider,
      region: r.region,
      target: r.target,
      modelRequested: r.model_requested,
      modelResolved: r.model_resolved,
      anthropicName: r.anthropic_name,
      upstreamRequestId: r.upstream_request_id,
      key: r.key,
      tag: r.tag,
      status: r.status,
      errorName: r.error_name,
      stopReason: r.stop_reason,
      partial: r.partial === 1,
      inputTokens: r.input_tokens,
      outputTokens: r.output_tokens,
      cacheWriteTokens: r.cache_write_tokens,
      cacheWrite1hTokens: r.cache_write_1h_tokens,
      cacheReadTokens: r.cache_read_tokens,
      costUsd: r.cost_usd,
      firstByteMs: r.first_byte_ms,
      totalMs: r.total_ms,
      failover: r.failover === 1,
      attempts: (byRequest.get(r.id) ?? []).map(
        (a): LedgerAttempt => ({
          attempt: a.attempt as number,
          target: a.target as string,
          provider: a.provider as string,
          region: a.region as string,
          status: a.status as number | null,
          errorName: a.error_name as string | null,
          verdict: a.verdict as string,
          latencyMs: a.latency_ms as number,
          inputTokens: a.input_tokens as number,
          outputTokens: a.output_tokens as number,
          cacheWriteTokens: a.cache_write_tokens as number,
          cacheWrite1hTokens: a.cache_write_1h_tokens as number,
          cacheReadTokens: a.cache_read_tokens as number,
          costUsd: a.cost_usd as number | null,
        }),
      ),
    }));
  }

  close(): void {
    this.db.close();
  }
}
