/**
 * `bedrock-claude usage`: what was spent, on what, from the ledger: a table (with a sparkline of
 * spend over time, answers cut by max_tokens, retries and failovers), `--json` or `--csv`.
 * `bedrock-claude usage advise`: how to spend less, with the numbers (src/usage/advise.ts).
 * Costs the ledger cannot price are shown as unknown, loudly, never as zero.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { loadConfigFile } from "../config/settings.js";
import { shippedRules } from "../emulator/rules.js";
import { shippedCatalog } from "../models/catalog.js";
import { type AdviceReport, advise, DAY_MS } from "../usage/advise.js";
import { formatCount, formatUsd, formatUtc, roundUsd, sparkline } from "../usage/format.js";
import { GROUP_KEYS, type GroupKey, type LedgerStore, type UsageRow } from "../usage/ledger.js";
import { defaultLedgerPath } from "../usage/open-ledger.js";
import { PriceBook, shippedPrices } from "../usage/prices.js";
import { SqliteLedger } from "../usage/sqlite-ledger.js";
import { globMatch } from "../util/glob.js";
import { EXIT } from "./errors.js";
import { emulatorLedgerPath, UsageError } from "./upstream-options.js";

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

interface UsageFlags {
  since?: string;
  until?: string;
  by?: string;
  json?: boolean;
  csv?: boolean;
  ledger?: string;
  emulator?: boolean;
  config?: string;
}

interface AdviseFlags extends UsageFlags {
  provisionedHourlyUsd?: string;
  provisionedTokensPerMinute?: string;
  provisionedModel?: string;
}

const WHEN_HELP =
  "an ISO date or time (2026-11-01, 2026-11-01T09:00, UTC unless it has an offset) or a relative one (90m, 24h, 7d, 2w, today, yesterday, month)";

function startOfUtcDay(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** A `--since` / `--until` value as ms since the epoch. Relative values count back from `now`. */
export function parseWhen(text: string, now: number, flag = "--since"): number {
  const value = text.trim().toLowerCase();
  const relative = /^(\d+(?:\.\d+)?)\s*(m|min|h|d|w)$/.exec(value);
  if (relative) {
    const unit = { m: MINUTE_MS, min: MINUTE_MS, h: HOUR_MS, d: DAY_MS, w: 7 * DAY_MS }[relative[2]!]!;
    return now - Number(relative[1]) * unit;
  }
  if (value === "now") return now;
  if (value === "today") return startOfUtcDay(now);
  if (value === "yesterday") return startOfUtcDay(now) - DAY_MS;
  if (value === "month") {
    const d = new Date(now);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  }
  let iso = text.trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(iso)) iso += "T00:00:00Z";
  else if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(iso)) iso = `${iso.replace(" ", "T")}Z`;
  const ms = /^\d{4}-\d{2}-\d{2}/.test(iso) ? Date.parse(iso) : Number.NaN;
  if (Number.isNaN(ms)) throw new UsageError(`${flag}: cannot read "${text}"; give ${WHEN_HELP}`);
  return ms;
}

/** The window: `--since` (default 30 days ago) to `--until` (default now, exclusive). */
export function windowOf(flags: UsageFlags, now: number): { since: number; until: number } {
  const since = flags.since !== undefined ? parseWhen(flags.since, now, "--since") : now - 30 * DAY_MS;
  const until = flags.until !== undefined ? parseWhen(flags.until, now, "--until") : now;
  if (since >= until) {
    throw new UsageError(
      `--since (${new Date(since).toISOString()}) must be before --until (${new Date(until).toISOString()})`,
    );
  }
  return { since, until };
}

export function parseBy(text: string | undefined): GroupKey[] {
  if (text === undefined) return ["model"];
  if (["", "none", "total"].includes(text.trim())) return [];
  const keys = text.split(",").map((k) => k.trim());
  for (const key of keys) {
    if (!GROUP_KEYS.includes(key as GroupKey)) {
      throw new UsageError(`--by: unknown "${key}"; give a comma-separated list of ${GROUP_KEYS.join(", ")}`);
    }
  }
  return [...new Set(keys)] as GroupKey[];
}

interface LedgerLocation {
  file: string;
  /** Why this file. */
  source: string;
  /** Set when recording is switched off. */
  off?: string;
}

/** The ledger the client writes to (see open-ledger.ts), or the one the flags name. */
export function ledgerLocation(flags: UsageFlags, env = process.env): LedgerLocation {
  if (flags.ledger && flags.emulator) throw new UsageError("give --ledger or --emulator, not both");
  if (flags.ledger) return { file: path.resolve(flags.ledger), source: "--ledger" };
  if (flags.emulator)
    return { file: emulatorLedgerPath(), source: "--emulator: the ledger of emulated calls" };
  const { path: configPath, config } = loadConfigFile(flags.config, env);
  const configured = config.ledger ? config.ledger.path : undefined;
  if (configured) return { file: path.resolve(configured), source: `"ledger.path" in ${configPath}` };
  const fromEnv = env.BEDROCK_CLAUDE_LEDGER;
  const envOff = fromEnv !== undefined && ["off", "false", "0"].includes(fromEnv.toLowerCase());
  if (fromEnv && !envOff) return { file: path.resolve(fromEnv), source: "BEDROCK_CLAUDE_LEDGER" };
  const location: LedgerLocation = {
    file: defaultLedgerPath(env),
    source: "the default, $BEDROCK_CLAUDE_HOME/ledger.db",
  };
  if (config.ledger === false) location.off = `"ledger": false in ${configPath}`;
  else if (envOff) location.off = `BEDROCK_CLAUDE_LEDGER=${fromEnv}`;
  return location;
}

/** Opens an existing ledger, or says where it looked and returns undefined (exit code 4). */
function openExisting(location: LedgerLocation): SqliteLedger | undefined {
  if (location.off) {
    process.stderr.write(`bedrock-claude: recording is off (${location.off}); reading ${location.file}\n`);
  }
  if (!existsSync(location.file)) {
    process.stderr.write(
      `bedrock-claude: no usage ledger at ${location.file} (${location.source}).\n` +
        "Nothing has been recorded there: calls through createClient(), `bedrock-claude ask` or `chat` record into it. " +
        `Calls with --emulator record into ${emulatorLedgerPath()} (read it with \`usage --emulator\`); another file: --ledger FILE.\n`,
    );
    process.exitCode = EXIT.notFound;
    return undefined;
  }
  try {
    return new SqliteLedger(location.file);
  } catch (error) {
    throw new Error(`Cannot read the usage ledger ${location.file}: ${(error as Error).message}`);
  }
}

/** What an empty window says: an empty ledger, or where the ledger's records are. */
function emptyMessage(store: LedgerStore, file: string, since: number, until: number): string {
  const days = store.report({ by: ["day"] });
  if (days.length === 0) return `The ledger ${file} is empty: no request has been recorded yet.`;
  const held = days.reduce((n, d) => n + d.requests, 0);
  const first = days[0]!.group.day;
  const last = days[days.length - 1]!.group.day;
  return (
    `No requests from ${formatUtc(since)} to ${formatUtc(until)} (UTC) in ${file}. ` +
    `It holds ${formatCount(held)} requests, from ${first} to ${last}: try --since ${first}.`
  );
}

interface Series {
  unit: "hour" | "day" | "week";
  start: number;
  unitMs: number;
  values: number[];
}

/** Spend per hour (windows under 2 days), day (up to 120 days) or week, over the window. */
function spendSeries(store: LedgerStore, since: number, until: number): Series {
  const span = until - since;
  const unit = span < 2 * DAY_MS ? "hour" : span <= 120 * DAY_MS ? "day" : "week";
  const unitMs = unit === "hour" ? HOUR_MS : unit === "day" ? DAY_MS : 7 * DAY_MS;
  const start = unit === "hour" ? Math.floor(since / HOUR_MS) * HOUR_MS : startOfUtcDay(since);
  const values = new Array<number>(Math.max(1, Math.ceil((until - start) / unitMs))).fill(0);
  const key: GroupKey = unit === "hour" ? "hour" : "day";
  for (const row of store.report({ since, until, by: [key] })) {
    const label = row.group[key];
    if (!label) continue;
    const at = Date.parse(unit === "hour" ? `${label}:00Z` : `${label}T00:00:00Z`);
    const i = Math.floor((at - start) / unitMs);
    if (i >= 0 && i < values.length) values[i]! += row.costUsd;
  }
  return { unit, start, unitMs, values };
}

/** The row's cost as a table shows it: `unknown !` or `≥$x !` when some requests have no price. */
function costCell(row: UsageRow): string {
  if (row.unpricedRequests === 0) return formatUsd(row.costUsd);
  return row.costUsd > 0 ? `≥${formatUsd(row.costUsd)} !` : "unknown !";
}

function groupCell(value: string | null | undefined): string {
  return value === null || value === undefined || value === "" ? "-" : value;
}

function table(header: string[], rows: string[][], rightFrom: number, ruleBefore?: number): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((cell, i) => (i >= rightFrom ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const out = all.map(line);
  if (ruleBefore !== undefined) {
    out.splice(ruleBefore + 1, 0, "-".repeat(widths.reduce((a, w) => a + w, 0) + 2 * (widths.length - 1)));
  }
  return out.join("\n");
}

/** A row for `--json` and `--csv`: group keys first, cost null when nothing of it is known. */
function flatRow(row: UsageRow, by: GroupKey[]) {
  const costComplete = row.unpricedRequests === 0;
  return {
    ...Object.fromEntries(by.map((k) => [k, row.group[k] ?? null])),
    requests: row.requests,
    errors: row.errors,
    inputTokens: row.inputTokens,
    outputTokens: row.outputTokens,
    cacheWriteTokens: row.cacheWriteTokens,
    cacheReadTokens: row.cacheReadTokens,
    costUsd: !costComplete && row.costUsd === 0 ? null : roundUsd(row.costUsd),
    costComplete,
    unpricedRequests: row.unpricedRequests,
    maxTokensStops: row.maxTokensStops,
    retries: row.retries,
    failovers: row.failovers,
  };
}

/** RFC 4180: quote fields with commas, quotes or line breaks; double the quotes; CRLF lines. */
export function csvField(value: unknown): string {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const CSV_COLUMNS = [
  ["requests", "requests"],
  ["errors", "errors"],
  ["input_tokens", "inputTokens"],
  ["output_tokens", "outputTokens"],
  ["cache_write_tokens", "cacheWriteTokens"],
  ["cache_read_tokens", "cacheReadTokens"],
  ["cost_usd", "costUsd"],
  ["cost_complete", "costComplete"],
  ["unpriced_requests", "unpricedRequests"],
  ["max_tokens_stops", "maxTokensStops"],
  ["retries", "retries"],
  ["failovers", "failovers"],
] as const;

function renderCsv(rows: UsageRow[], by: GroupKey[]): string {
  const lines = [[...by, ...CSV_COLUMNS.map(([name]) => name)].map(csvField).join(",")];
  for (const row of rows) {
    const flat = flatRow(row, by) as Record<string, unknown>;
    lines.push(
      [...by.map((k) => flat[k]), ...CSV_COLUMNS.map(([, field]) => flat[field])].map(csvField).join(","),
    );
  }
  return `${lines.join("\r\n")}\r\n`;
}

function renderTable(
  store: LedgerStore,
  file: string,
  since: number,
  until: number,
  by: GroupKey[],
  rows: UsageRow[],
  totals: UsageRow,
): string {
  const out: string[] = [];
  out.push(
    `Usage ${formatUtc(since)} → ${formatUtc(until)} (UTC)${by.length > 0 ? `, by ${by.join(", ")}` : ""} · ledger ${file}`,
    "",
  );
  const cells = (row: UsageRow, group: string[]) => [
    ...group,
    formatCount(row.requests),
    formatCount(row.errors),
    formatCount(row.inputTokens),
    formatCount(row.outputTokens),
    formatCount(row.cacheWriteTokens),
    formatCount(row.cacheReadTokens),
    costCell(row),
  ];
  const header = [
    ...by.map((k) => k.toUpperCase()),
    "REQUESTS",
    "ERRORS",
    "INPUT",
    "OUTPUT",
    "CACHE WRITE",
    "CACHE READ",
    "COST (USD)",
  ];
  const lines = rows.map((row) =>
    cells(
      row,
      by.map((k) => groupCell(row.group[k])),
    ),
  );
  const totalGroup = by.length > 0 ? ["TOTAL", ...by.slice(1).map(() => "")] : [];
  const totalHeader = by.length > 0 ? header : ["", ...header];
  const totalLine = by.length > 0 ? cells(totals, totalGroup) : cells(totals, ["TOTAL"]);
  out.push(
    table(
      totalHeader,
      [...lines, totalLine],
      by.length > 0 ? by.length : 1,
      by.length > 0 ? lines.length : undefined,
    ),
  );
  if (totals.unpricedRequests > 0) {
    const unpriced = store
      .report({ since, until, by: ["model"] })
      .filter((r) => r.unpricedRequests > 0)
      .map((r) => `${groupCell(r.group.model)} (${formatCount(r.unpricedRequests)})`);
    out.push(
      "",
      `! Cost unknown for ${formatCount(totals.unpricedRequests)} request${totals.unpricedRequests === 1 ? "" : "s"}: no price for ${unpriced.join(", ")}. ` +
        "Their tokens are counted, their cost is not: costs marked ! are lower bounds. " +
        'Add the missing prices under "prices" in the config file (docs/usage.md).',
    );
  }
  const series = spendSeries(store, since, until);
  const peak = series.values.reduce((best, v, i) => (v > series.values[best]! ? i : best), 0);
  const bucket = (i: number) =>
    series.unit === "hour"
      ? formatUtc(series.start + i * series.unitMs)
      : formatUtc(series.start + i * series.unitMs).slice(0, 10);
  out.push(
    "",
    `Spend per ${series.unit}, ${bucket(0)} → ${bucket(series.values.length - 1)}: ${sparkline(series.values)}` +
      (series.values[peak]! > 0
        ? `  (peak ${formatUsd(series.values[peak]!)} ${series.unit === "hour" ? "at" : series.unit === "day" ? "on" : "in the week of"} ${bucket(peak)})`
        : ""),
  );
  out.push(
    totals.maxTokensStops > 0
      ? `Cut by max_tokens: ${formatCount(totals.maxTokensStops)} answer${totals.maxTokensStops === 1 ? "" : "s"} stopped at the limit (stop_reason: max_tokens); raise max_tokens where answers should be whole.`
      : "Cut by max_tokens: none.",
    `Retries: ${formatCount(totals.retries)} extra attempt${totals.retries === 1 ? "" : "s"}; failovers: ${formatCount(totals.failovers)} request${totals.failovers === 1 ? "" : "s"} answered by a fallback target.`,
  );
  return `${out.join("\n")}\n`;
}

function runReport(flags: UsageFlags): void {
  if (flags.json && flags.csv) throw new UsageError("give --json or --csv, not both");
  const by = parseBy(flags.by);
  const { since, until } = windowOf(flags, Date.now());
  const location = ledgerLocation(flags);
  const store = openExisting(location);
  if (!store) return;
  try {
    const query = { since, until };
    const rows = by.length > 0 ? store.report({ ...query, by }) : [];
    const totals = store.report(query)[0]!;
    if (flags.json) {
      const json = {
        since: new Date(since).toISOString(),
        until: new Date(until).toISOString(),
        by,
        rows: (by.length > 0 ? rows : [totals]).map((r) => flatRow(r, by)),
        totals: flatRow(totals, []),
      };
      process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    } else if (flags.csv) {
      process.stdout.write(renderCsv(by.length > 0 ? rows : [totals], by));
    }
    if (totals.requests === 0) {
      const message = emptyMessage(store, location.file, since, until);
      if (flags.json || flags.csv) process.stderr.write(`bedrock-claude: ${message}\n`);
      else process.stdout.write(`${message}\n`);
      return;
    }
    if (!flags.json && !flags.csv) {
      process.stdout.write(renderTable(store, location.file, since, until, by, rows, totals));
    }
  } finally {
    store.close();
  }
}

function positive(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag} must be a positive number; got "${value}"`);
  return n;
}

function wrap(text: string, indent: string, width = 100): string {
  const words = text.split(/\s+/);
  const lines: string[] = [];
  let line = "";
  for (const word of words) {
    if (line && line.length + 1 + word.length > width - indent.length) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.map((l) => indent + l).join("\n");
}

function renderAdvice(report: AdviceReport, file: string): string {
  const days = Number(report.days.toFixed(1));
  const out: string[] = [
    `Advice from ${formatCount(report.requests)} requests, ${formatUtc(report.since)} → ${formatUtc(report.until)} (UTC, ${days} day${days === 1 ? "" : "s"}), ` +
      `spend ${formatUsd(report.spendUsd)}${report.unpricedRequests > 0 ? " + unknown !" : ""} (≈ ${formatUsd((report.spendUsd * 30) / report.days)} a month) · ledger ${file}`,
    "",
  ];
  if (report.items.length === 0) {
    out.push(
      "No advice: nothing in this window that prompt caching, batch inference, global profiles or provisioned throughput would make cheaper.",
    );
  }
  report.items.forEach((item, i) => {
    out.push(`${i + 1}. ${item.what}`);
    out.push(
      item.monthlySavingUsd === null
        ? "   saves: cannot be estimated without your quote (see how)"
        : `   saves ≈ ${formatUsd(item.monthlySavingUsd)} a month (${formatUsd(item.windowSavingUsd ?? 0)} over the window)`,
    );
    out.push(wrap(`why: ${item.why}`, "   "), wrap(`how: ${item.how}`, "   "), "");
  });
  if (report.notes.length > 0) {
    out.push("Notes:", ...report.notes.map((n) => wrap(n, "  ").replace(/^ {2}/, "- ")));
  }
  return `${out.join("\n").trimEnd()}\n`;
}

function runAdvise(flags: AdviseFlags): void {
  if (flags.csv) throw new UsageError("usage advise prints a report or --json, not CSV");
  const hourlyUsd = positive(flags.provisionedHourlyUsd, "--provisioned-hourly-usd");
  const tokensPerMinute = positive(flags.provisionedTokensPerMinute, "--provisioned-tokens-per-minute");
  if ((hourlyUsd === undefined) !== (tokensPerMinute === undefined)) {
    throw new UsageError(
      "--provisioned-hourly-usd and --provisioned-tokens-per-minute go together: the hourly price of one model unit and the tokens per minute it serves",
    );
  }
  const { since, until } = windowOf(flags, Date.now());
  const location = ledgerLocation(flags);
  const { config } = loadConfigFile(flags.config);
  const store = openExisting(location);
  if (!store) return;
  try {
    const requests = store.requests({ since, until });
    const report = advise(requests, {
      prices: new PriceBook(shippedPrices(), config.prices ?? []),
      catalog: shippedCatalog(),
      since,
      until,
      provisioned: { hourlyUsd, tokensPerMinute, model: flags.provisionedModel },
      minPrefixTokens: (name) =>
        shippedRules().rules.minCacheableTokens.rules.find((r) => globMatch(r.pattern, name))?.tokens ?? 1024,
    });
    if (flags.json) {
      process.stdout.write(
        `${JSON.stringify(
          { ...report, since: new Date(since).toISOString(), until: new Date(until).toISOString() },
          (key, value) => (typeof value === "number" && key.endsWith("Usd") ? roundUsd(value) : value),
          2,
        )}\n`,
      );
      if (requests.length === 0) {
        process.stderr.write(`bedrock-claude: ${emptyMessage(store, location.file, since, until)}\n`);
      }
      return;
    }
    if (requests.length === 0) {
      process.stdout.write(`${emptyMessage(store, location.file, since, until)}\n`);
      return;
    }
    process.stdout.write(renderAdvice(report, location.file));
  } finally {
    store.close();
  }
}

function addWindowOptions(command: Command): Command {
  return command
    .option("--since <when>", `start of the window (default 30d): ${WHEN_HELP}`)
    .option("--until <when>", "end of the window, exclusive (default now)")
    .option("--json", "print JSON")
    .option("--ledger <file>", "the ledger file (default: the configured ledger)")
    .option("--emulator", "read the ledger of --emulator runs")
    .option("--config <file>", "bedrock-claude config file (ledger path, prices)");
}

export function registerUsage(program: Command): void {
  const usage = addWindowOptions(
    program
      .command("usage")
      .description("what was spent, on which model, key, tag and region, from the usage ledger"),
  )
    .option("--by <keys>", `group by a comma-separated list of ${GROUP_KEYS.join(", ")}, or none`, "model")
    .option("--csv", "print CSV (RFC 4180)")
    .action((flags: UsageFlags) => runReport(flags));
  addWindowOptions(
    usage
      .command("advise")
      .description("how to spend less: prompt caching, batch, global profiles, provisioned throughput"),
  )
    .option(
      "--provisioned-hourly-usd <usd>",
      "your quoted provisioned-throughput price per model unit and hour",
    )
    .option(
      "--provisioned-tokens-per-minute <tokens>",
      "tokens per minute one model unit serves (from the same quote)",
    )
    .option(
      "--provisioned-model <name>",
      "the model the quote is for (default: the one with most on-demand spend)",
    )
    .action((_flags: AdviseFlags, command: Command) => {
      if (command.parent?.getOptionValueSource("by") === "cli") {
        throw new UsageError("usage advise takes no --by: it looks at every model, tag and region");
      }
      runAdvise(command.optsWithGlobals<AdviseFlags>());
    });
}
