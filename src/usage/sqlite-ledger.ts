/**
 * The ledger in SQLite (better-sqlite3, WAL). Schema changes are numbered migrations tracked in
 * `user_version`.
 *
 * Writes: `record()` appends the record to this process's journal file (one `write`, in the OS's
 * hands once it returns: a process killed with SIGKILL loses nothing) and returns. The journal's
 * new bytes go into SQLite as one batch every `flushMs` (500 ms) or 1,000 records, moved by a
 * worker thread (journal-mover.ts), and before any read in this process. A journal left by a
 * process that died is moved in by the next one to open the ledger. Measured, on the response
 * path: a SQLite commit per record costs about 20 us on a quiet machine (about ten system calls:
 * locks, WAL frames) and two to four times that under load; a journal append, one system call,
 * about a quarter of that (bench/RESULTS.md, "SqliteLedger.record()"). Moving a batch in cost
 * about 9 us a record on the request's thread (timed inside a createClient process); with the
 * worker, handing it on leaves about 1.4 us a call there (bench ledger, paired call by call). Other
 * processes see a record once its batch is in, within `flushMs` and the worker's time to move it.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { journalMover, RETRY_MS } from "./journal-mover.js";
import type { GroupKey, LedgerRequest, LedgerStore, UsageQuery, UsageRow } from "./ledger.js";
import {
  attemptsFrom,
  batchInserter,
  HOUR_MS,
  type JournalRange,
  journalLine,
  moveJournalRange,
  ROLLUP_ADD,
  requestRowParams,
  rowsOfJournal,
} from "./ledger-rows.js";

/** The rollup's grouping and sums over rows of `requests` (used by migration 3's backfill). */
const ROLLUP_SELECT = `time / ${HOUR_MS}, provider, region, COALESCE(anthropic_name, model_resolved, model_requested),
  COALESCE(key, ''), COALESCE(tag, ''), COUNT(*), SUM(status >= 400 OR status = 0), SUM(input_tokens), SUM(output_tokens),
  SUM(cache_write_tokens), SUM(cache_read_tokens), TOTAL(cost_usd),
  SUM(cost_usd IS NULL AND (input_tokens + output_tokens) > 0), SUM(stop_reason IS 'max_tokens'), SUM(attempts - 1),
  SUM(failover)`;

/**
 * The rollup's upsert for one new request row: the body of the trigger that kept it in migrations
 * 3 and 4 (part of their text: never edit).
 */
const ROLLUP_UPSERT = `INSERT INTO usage_hourly VALUES (
       NEW.time / ${HOUR_MS}, NEW.provider, NEW.region, COALESCE(NEW.anthropic_name, NEW.model_resolved, NEW.model_requested),
       COALESCE(NEW.key, ''), COALESCE(NEW.tag, ''), 1, (NEW.status >= 400 OR NEW.status = 0), NEW.input_tokens,
       NEW.output_tokens, NEW.cache_write_tokens, NEW.cache_read_tokens, COALESCE(NEW.cost_usd, 0),
       (NEW.cost_usd IS NULL AND (NEW.input_tokens + NEW.output_tokens) > 0), (NEW.stop_reason IS 'max_tokens'),
       NEW.attempts - 1, NEW.failover)
     ${ROLLUP_ADD};`;

/**
 * The columns of `requests` after its id, as migrations 1 and 4 create them. Part of those
 * migrations' text: never edit (a schema change is a new migration).
 */
const REQUEST_COLUMNS = `time INTEGER NOT NULL,
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
     failover INTEGER NOT NULL`;

/** The columns of `attempts` after its request id (and seq), as migrations 1 and 2 create them: never edit. */
const ATTEMPT_COLUMNS = `attempt INTEGER NOT NULL,
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
     cost_usd REAL,`;

/** Numbered migrations: index + 1 is the schema version. Append, never edit. */
export const MIGRATIONS: string[] = [
  `CREATE TABLE requests (
     id TEXT PRIMARY KEY,
     ${REQUEST_COLUMNS}
   );
   CREATE INDEX requests_time ON requests (time);
   CREATE TABLE attempts (
     request_id TEXT NOT NULL REFERENCES requests (id),
     ${ATTEMPT_COLUMNS}
     PRIMARY KEY (request_id, attempt)
   );`,
  // 2: attempts keyed by their position: a target skipped by an open breaker is listed without
  // taking an attempt number of its own, so (request_id, attempt) was not unique.
  `CREATE TABLE attempts_v2 (
     request_id TEXT NOT NULL REFERENCES requests (id),
     seq INTEGER NOT NULL,
     ${ATTEMPT_COLUMNS}
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
     ${ROLLUP_UPSERT}
   END;`,
  // 4: a request is one row, its attempts a JSON array in it (`attempt_list`, one array per attempt
  // in the order of ATTEMPT_FIELDS), stored in time order (WITHOUT ROWID, keyed by time and id): a
  // write is one statement touching two pages (the request's and its rollup hour's) instead of two
  // statements touching five (request, id index, time index, attempt, attempt key). Measured: 44 us
  // -> under 20 us a record. Existing attempts move into the JSON, in order.
  `CREATE TABLE requests_v4 (
     id TEXT NOT NULL,
     ${REQUEST_COLUMNS},
     attempt_list TEXT NOT NULL,
     PRIMARY KEY (time, id)
   ) WITHOUT ROWID;
   INSERT INTO requests_v4
     SELECT r.*, COALESCE((
       SELECT json_group_array(json_array(
         a.attempt, a.target, a.provider, a.region, a.status, a.error_name, a.verdict, a.latency_ms, a.input_tokens,
         a.output_tokens, a.cache_write_tokens, a.cache_write_1h_tokens, a.cache_read_tokens, a.cost_usd
       ) ORDER BY a.seq) FROM attempts a WHERE a.request_id = r.id), '[]')
     FROM requests r;
   DROP TABLE attempts;
   DROP TABLE requests;
   ALTER TABLE requests_v4 RENAME TO requests;
   CREATE TRIGGER requests_rollup AFTER INSERT ON requests BEGIN
     ${ROLLUP_UPSERT}
   END;`,
  // 5: the rollup is kept by the writer, one upsert per hour and group of a batch, in the batch's
  // transaction, instead of by a trigger per row (measured in a micro-benchmark of 64-row batches:
  // the trigger's upsert cost about 1.5 to 2 us a record). Writers of schema 4 refuse a ledger of 5,
  // so no writer that relies on the trigger is left.
  `DROP TRIGGER requests_rollup;`,
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
  attempt_list: string;
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

export interface SqliteLedgerOptions {
  /**
   * Journal each record (one append) and move them into SQLite in batches (default: true, but for
   * `:memory:`); false: one SQLite transaction per record.
   */
  journal?: boolean;
  /** How long a record may wait in the journal before its batch goes into SQLite, in ms (default 500). */
  flushMs?: number;
}

const JOURNAL_MARK = ".journal-";
/** Journaled records that make a batch before its time is up (bounds the batch's memory and time). */
const MAX_BATCH = 1_000;
/**
 * A journal is complete once a batch takes it past this size: the next record starts a new one,
 * and the full one is deleted once its last batch is in (recovery reads at most about this much).
 */
const JOURNAL_ROTATE_BYTES = 1 << 20;

/** Journal files of `file`: `<file>.journal-<host>-<pid>-<random>.jsonl`. */
function journalName(file: string): string {
  const host = os.hostname().replace(/[^\w.]/g, "_");
  return `${file}${JOURNAL_MARK}${host}-${process.pid}-${Math.random().toString(36).slice(2, 10)}.jsonl`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Open ledgers of this process, by file: reads flush every writer of the file first, and exit flushes all. */
const openLedgers = new Map<string, Set<SqliteLedger>>();
let exitHooked = false;

export class SqliteLedger implements LedgerStore {
  private readonly db: Database.Database;
  /** Inserts rows (SQL parameters) and adds the new ones to the rollup, in one transaction. */
  private readonly insertBatch: (rows: unknown[][]) => void;
  private readonly key: string;
  private readonly useJournal: boolean;
  private readonly flushMs: number;
  /** The journal being written: its size, and how far its bytes were handed on to be moved in. */
  private journal: { fd: number; path: string; bytes: number; handed: number } | undefined;
  /** Records written since the last batch was handed on. */
  private unhanded = 0;
  /** The sequence number of the last range given to the mover thread (0: none). */
  private lastSent = 0;
  /** Ranges to move in on this thread (no mover thread, or it failed for good). */
  private here: JournalRange[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly file: string,
    options: SqliteLedgerOptions = {},
  ) {
    if (file !== ":memory:") mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("busy_timeout = 5000");
    this.migrate();
    this.insertBatch = batchInserter(this.db);
    this.useJournal = file !== ":memory:" && options.journal !== false;
    this.flushMs = options.flushMs ?? 500;
    this.key = file === ":memory:" ? `:memory:${Math.random()}` : path.resolve(file);
    if (this.useJournal) this.recoverJournals();
    const same = openLedgers.get(this.key) ?? new Set<SqliteLedger>();
    openLedgers.set(this.key, same);
    same.add(this);
    if (!exitHooked) {
      exitHooked = true;
      // A normal exit moves what is journaled into SQLite; a kill leaves it to the next opener.
      process.on("exit", () => {
        for (const set of openLedgers.values()) for (const ledger of set) ledger.flushAtExit();
      });
    }
  }

  private migrate(): void {
    const version = () => this.db.pragma("user_version", { simple: true }) as number;
    const check = (current: number) => {
      if (current > MIGRATIONS.length) {
        throw new Error(
          `The ledger ${this.file} has schema version ${current}, newer than this bedrock-claude knows (${MIGRATIONS.length}): upgrade bedrock-claude.`,
        );
      }
    };
    const found = version();
    check(found);
    if (found === MIGRATIONS.length) return;
    // IMMEDIATE: two processes opening an old ledger at once migrate it once, one after the other.
    this.db
      .transaction(() => {
        const current = version();
        check(current);
        for (let v = current; v < MIGRATIONS.length; v++) this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${MIGRATIONS.length}`);
      })
      .immediate();
  }

  /**
   * Moves in the journals of processes of this host that are gone (killed before they could):
   * records already in SQLite (a kill between a batch's commit and the journal's deletion) are
   * left as they are, a line cut by the kill is dropped (its write never returned: its request
   * never completed).
   */
  private recoverJournals(): void {
    const dir = path.dirname(this.file);
    const prefix = `${path.basename(this.file)}${JOURNAL_MARK}`;
    const host = os.hostname().replace(/[^\w.]/g, "_");
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.startsWith(prefix) && n.endsWith(".jsonl"));
    } catch {
      return;
    }
    for (const name of names) {
      const match = /^(.*)-(\d+)-[a-z0-9]+\.jsonl$/.exec(name.slice(prefix.length));
      if (!match || match[1] !== host) continue;
      const pid = Number(match[2]);
      if (pid === process.pid || processAlive(pid)) continue;
      const journal = path.join(dir, name);
      let text: string;
      try {
        text = readFileSync(journal, "utf8");
      } catch {
        continue; // another process recovered it first
      }
      this.insertBatch(rowsOfJournal(text));
      try {
        unlinkSync(journal);
      } catch {
        // another process recovered it too (its inserts were left as already there)
      }
    }
  }

  /** Durable once it returns: in the journal (or committed to the WAL), which a killed process leaves to the OS. */
  record(e: LedgerRequest): void {
    if (this.closed) throw new Error(`The ledger ${this.file} is closed.`);
    if (this.useJournal && this.appendToJournal(journalLine(e))) {
      // A full batch is handed on at the next turn of the event loop, off this response's path.
      if (++this.unhanded === MAX_BATCH) setImmediate(this.batchDue).unref();
      this.timer ??= setTimeout(this.batchDue, this.flushMs).unref();
      return;
    }
    this.insertBatch([requestRowParams(e)]);
  }

  /** Appends `line` (ending in a newline); false when there can be no journal. */
  private appendToJournal(line: string): boolean {
    if (!this.journal) {
      const file = journalName(this.file);
      try {
        this.journal = { fd: openSync(file, "a"), path: file, bytes: 0, handed: 0 };
      } catch {
        return false; // no journal (a read-only folder): one transaction per record
      }
    }
    // One write: a regular file takes a line whole but for a full disk, whose next write throws.
    let written = writeSync(this.journal.fd, line);
    if (written < Buffer.byteLength(line)) {
      const bytes = Buffer.from(line);
      while (written < bytes.length) written += writeSync(this.journal.fd, bytes, written);
    }
    this.journal.bytes += written;
    return true;
  }

  /**
   * The journal's bytes not yet handed on, as a range to move in. `complete`, or a journal past
   * JOURNAL_ROTATE_BYTES: the range is its last (the journal is deleted once it is in), and the next
   * record starts a new journal.
   */
  private takeRange(complete: boolean): JournalRange | undefined {
    const journal = this.journal;
    if (!journal) return undefined;
    this.unhanded = 0;
    const last = complete || journal.bytes >= JOURNAL_ROTATE_BYTES;
    if (!last && journal.bytes === journal.handed) return undefined;
    const range = { journal: journal.path, from: journal.handed, to: journal.bytes, last };
    journal.handed = journal.bytes;
    if (last) {
      closeSync(journal.fd);
      this.journal = undefined;
    }
    return range;
  }

  /** A batch's time has come (or it is full): hand it on, or move it in here without a mover thread. */
  private readonly batchDue = (): void => {
    this.handOn();
    try {
      this.moveHere();
    } catch {
      // busy past its timeout: stays journaled, tried again
      if (!this.closed) this.timer ??= setTimeout(this.batchDue, RETRY_MS).unref();
    }
  };

  /**
   * Hands the journal's new bytes to the mover thread; without one (never started, or failed for
   * good), keeps them to be moved in on this thread, after what a failed one gives back undone.
   */
  private handOn(complete = false): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.here.unshift(...journalMover.reclaim(this));
    const range = this.takeRange(complete);
    if (!range) return;
    const seq = journalMover.move(this.key, range, this);
    if (seq > 0) this.lastSent = seq;
    else this.here.push(range);
  }

  private moveHere(): void {
    while (this.here.length > 0) {
      moveJournalRange(this.insertBatch, this.here[0]!);
      this.here.shift();
    }
  }

  /**
   * Moves everything journaled into SQLite before returning: the new bytes are handed on and waited
   * for (or, without a mover thread, moved in here). `complete`: the journal is deleted once in.
   */
  flush(complete = false): void {
    this.handOn(complete);
    if (this.lastSent > 0) {
      const result = journalMover.waitFor(this.lastSent);
      if (result === "done") this.lastSent = 0;
      else if (!journalMover.active) {
        // The mover thread is gone for good: what it had not done goes in here (twice is harmless).
        this.here.unshift(...journalMover.reclaim(this));
        this.lastSent = 0;
      } else {
        throw new Error(
          `The ledger ${this.file} is busy: its newest records could not be moved in (they stay journaled and are tried again).`,
        );
      }
    }
    this.moveHere();
  }

  /** At exit: everything in, the journal deleted; what cannot go in stays journaled for the next opener. */
  private flushAtExit(): void {
    try {
      this.flush(true);
    } catch {
      // stays in the journal
    }
  }

  /** Every ledger of this process on the same file moves its journal in, so that a read sees all. */
  private flushAll(): void {
    for (const ledger of openLedgers.get(this.key) ?? []) ledger.flush();
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
    this.flushAll();
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
    this.flushAll();
    const { sql, params } = this.where(query);
    const rows = this.db.prepare(`SELECT * FROM requests ${sql} ORDER BY time`).all(params) as RequestRow[];
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
      attempts: attemptsFrom(r.attempt_list),
    }));
  }

  close(): void {
    if (this.closed) return;
    this.flush(true);
    this.closed = true;
    const same = openLedgers.get(this.key);
    same?.delete(this);
    if (same?.size === 0) {
      openLedgers.delete(this.key);
      journalMover.close(this.key);
    }
    this.db.close();
  }
}
