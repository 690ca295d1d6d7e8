/**
 * A ledger record as the SQLite ledger keeps it: its row in `requests` (27 values by position), its
 * line in a journal (that row as JSON, the attempts as an array), and how a batch of rows goes in
 * (the rows and their hourly sums, in one transaction). Shared by the ledger (sqlite-ledger.ts) and
 * the thread that moves journals into SQLite (journal-mover-thread.ts).
 */
import { closeSync, openSync, readSync, unlinkSync } from "node:fs";
import type Database from "better-sqlite3";
import type { LedgerAttempt, LedgerRequest } from "./ledger.js";

export const HOUR_MS = 3_600_000;

/** How an upsert adds a row's sums to an hour's existing ones (part of migrations 3 and 4: never edit). */
export const ROLLUP_ADD = `ON CONFLICT (hour, provider, region, model, key, tag) DO UPDATE SET
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
       failovers = failovers + excluded.failovers`;

/** The code-kept rollup's upsert (schema 5 on): one row of sums per hour and group of a batch. */
const ROLLUP_INSERT = `INSERT INTO usage_hourly VALUES (${new Array(17).fill("?").join(", ")}) ${ROLLUP_ADD}`;

/**
 * A request row, by position. A record already in (same time and id) is left as it is and not
 * summed again: moving a journal range twice (a mover thread that died after its commit and before
 * it said so; a dead process's journal whose batches were partly in) counts each record once.
 */
const INSERT_REQUEST = `INSERT INTO requests VALUES (${new Array(27).fill("?").join(", ")}) ON CONFLICT DO NOTHING`;

/**
 * The attempts as the `attempt_list` column keeps them: a JSON array with one array per attempt,
 * its fields in the order of ATTEMPT_FIELDS (as migration 4 writes them). Arrays rather than
 * objects: rows stay small (measured with 3 attempts: 34 us a write with objects, 20 us with arrays).
 */
export const ATTEMPT_FIELDS = [
  "attempt",
  "target",
  "provider",
  "region",
  "status",
  "errorName",
  "verdict",
  "latencyMs",
  "inputTokens",
  "outputTokens",
  "cacheWriteTokens",
  "cacheWrite1hTokens",
  "cacheReadTokens",
  "costUsd",
] as const satisfies readonly (keyof LedgerAttempt)[];

function attemptsArray(attempts: LedgerAttempt[]): unknown[][] {
  return attempts.map((a) => [
    a.attempt,
    a.target,
    a.provider,
    a.region,
    a.status,
    a.errorName,
    a.verdict,
    a.latencyMs,
    a.inputTokens,
    a.outputTokens,
    a.cacheWriteTokens,
    a.cacheWrite1hTokens,
    a.cacheReadTokens,
    a.costUsd,
  ]);
}

export function attemptsFrom(json: string): LedgerAttempt[] {
  return (JSON.parse(json) as unknown[][]).map(
    (values) =>
      Object.fromEntries(ATTEMPT_FIELDS.map((field, i) => [field, values[i]])) as unknown as LedgerAttempt,
  );
}

/** The 27 column values of a request row, the attempts still as an array (what a journal line holds). */
export function rowValues(e: LedgerRequest): unknown[] {
  return [
    e.id,
    e.time,
    e.stream ? 1 : 0,
    e.provider,
    e.region,
    e.target,
    e.modelRequested,
    e.modelResolved,
    e.anthropicName,
    e.upstreamRequestId,
    e.key,
    e.tag,
    e.status,
    e.errorName,
    e.stopReason,
    e.partial ? 1 : 0,
    e.inputTokens,
    e.outputTokens,
    e.cacheWriteTokens,
    e.cacheWrite1hTokens,
    e.cacheReadTokens,
    e.costUsd,
    e.firstByteMs,
    e.totalMs,
    e.attempts.length,
    e.failover ? 1 : 0,
    attemptsArray(e.attempts),
  ];
}

/** A record's journal line: its row as one JSON array, and a newline. */
export function journalLine(e: LedgerRequest): string {
  return `${JSON.stringify(rowValues(e))}\n`;
}

/** A row with its attempts as an array (a journal line's) as SQL parameters: the attempts as JSON text, in place. */
function toSql(row: unknown[]): unknown[] {
  row[26] = JSON.stringify(row[26]);
  return row;
}

/** A record as the parameters of `INSERT INTO requests VALUES (?, …)` (27 of them, by position). */
export function requestRowParams(e: LedgerRequest): unknown[] {
  return toSql(rowValues(e));
}

/** The rows of journal text as SQL parameters; a line cut by a kill (its write never returned) is dropped. */
export function rowsOfJournal(text: string): unknown[][] {
  const rows: unknown[][] = [];
  let start = 0;
  for (;;) {
    const end = text.indexOf("\n", start);
    if (end < 0) break;
    if (end > start) {
      try {
        rows.push(toSql(JSON.parse(text.slice(start, end)) as unknown[]));
      } catch {
        // does not parse: cut by a kill
      }
    }
    start = end + 1;
  }
  // A last line without its newline was cut by a kill: its write never returned.
  return rows;
}

/**
 * Bytes [from, to) of a journal file, as text; none when the file is gone (its last range was moved
 * in and it was deleted: a range tried again after that).
 */
function readJournalRange(file: string, from: number, to: number): string {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw error;
  }
  try {
    const bytes = Buffer.allocUnsafe(to - from);
    let read = 0;
    while (read < bytes.length) {
      const n = readSync(fd, bytes, read, bytes.length - read, from + read);
      if (n === 0) break;
      read += n;
    }
    return bytes.toString("utf8", 0, read);
  } finally {
    closeSync(fd);
  }
}

/** A range of a journal to move into SQLite; `last`: the journal is complete, and is deleted once moved. */
export interface JournalRange {
  journal: string;
  from: number;
  to: number;
  last: boolean;
}

/** Moves a journal range into SQLite with `insert` (one transaction); deletes a last one once committed. */
export function moveJournalRange(insert: (rows: unknown[][]) => void, range: JournalRange): void {
  if (range.to > range.from) insert(rowsOfJournal(readJournalRange(range.journal, range.from, range.to)));
  if (range.last) {
    try {
      unlinkSync(range.journal);
    } catch {
      // already gone (a retry after the unlink)
    }
  }
}

/**
 * Inserts rows (SQL parameters) and adds those that were new to the hourly rollup, in one
 * transaction. Parameters are spread as arguments rather than passed as one array: better-sqlite3
 * reads an array's elements one property lookup each (measured: about 1 us less a record).
 */
export function batchInserter(db: Database.Database): (rows: unknown[][]) => void {
  const insertRequest = db.prepare(INSERT_REQUEST);
  const addToRollup = db.prepare(ROLLUP_INSERT);
  return db.transaction((rows: unknown[][]) => {
    const inserted: unknown[][] = [];
    for (const row of rows) if (insertRequest.run(...row).changes > 0) inserted.push(row);
    for (const sums of hourlySums(inserted)) addToRollup.run(...sums);
  });
}

/**
 * The rollup rows of a batch of request rows (SQL parameters, in the column order of `requests`):
 * per hour and group, the sums migration 3 defines (the same as its backfill's SELECT).
 */
function hourlySums(rows: unknown[][]): unknown[][] {
  const groups = new Map<string, { group: unknown[]; sums: HourSums }>();
  for (const row of rows) {
    const hour = Math.floor((row[1] as number) / HOUR_MS);
    const model = (row[8] ?? row[7] ?? row[6]) as string;
    const key = (row[10] as string | null) ?? "";
    const tag = (row[11] as string | null) ?? "";
    const id = `${hour}\n${row[3]}\n${row[4]}\n${model}\n${key}\n${tag}`;
    let entry = groups.get(id);
    if (!entry) {
      entry = { group: [hour, row[3], row[4], model, key, tag], sums: new HourSums() };
      groups.set(id, entry);
    }
    entry.sums.add(row);
  }
  return [...groups.values()].map(({ group, sums }) => [...group, ...sums.values()]);
}

/** One hour and group's sums, in the column order of `usage_hourly` after its key. */
class HourSums {
  requests = 0;
  errors = 0;
  inputTokens = 0;
  outputTokens = 0;
  cacheWriteTokens = 0;
  cacheReadTokens = 0;
  costUsd = 0;
  unpriced = 0;
  maxTokensStops = 0;
  retries = 0;
  failovers = 0;

  add(row: unknown[]): void {
    const status = row[12] as number;
    const input = row[16] as number;
    const output = row[17] as number;
    const cost = row[21] as number | null;
    this.requests++;
    if (status >= 400 || status === 0) this.errors++;
    this.inputTokens += input;
    this.outputTokens += output;
    this.cacheWriteTokens += row[18] as number;
    this.cacheReadTokens += row[20] as number;
    this.costUsd += cost ?? 0;
    if (cost === null && input + output > 0) this.unpriced++;
    if (row[14] === "max_tokens") this.maxTokensStops++;
    this.retries += (row[24] as number) - 1;
    this.failovers += row[25] as number;
  }

  values(): number[] {
    return [
      this.requests,
      this.errors,
      this.inputTokens,
      this.outputTokens,
      this.cacheWriteTokens,
      this.cacheReadTokens,
      this.costUsd,
      this.unpriced,
      this.maxTokensStops,
      this.retries,
      this.failovers,
    ];
  }
}
