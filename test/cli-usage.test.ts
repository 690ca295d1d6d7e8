/**
 * `bedrock-claude usage` and `usage advise` run as a user runs them, on a seeded ledger: 360
 * deterministic requests across 3 models (one without a price), 2 regions, 2 tags and 3 days, with
 * throttled failures, retries, failovers and answers cut by max_tokens. Every expected figure is
 * computed here from the records themselves.
 */
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseWhen } from "../src/cli/usage.js";
import type { LedgerAttempt, LedgerRequest } from "../src/usage/ledger.js";
import { costOf, endpointKind, PriceBook, shippedPrices } from "../src/usage/prices.js";
import { SqliteLedger } from "../src/usage/sqlite-ledger.js";
import type { Usage } from "../src/usage/usage.js";
import { type ProcessRun, runCli } from "./helpers.js";

const TMP = mkdtempSync(path.join(os.tmpdir(), "bedrock-claude-usage-"));
/** A fresh BEDROCK_CLAUDE_HOME with no ledger in it. */
const HOME_DIR = path.join(TMP, "home");

function cli(args: string[], env: Record<string, string> = {}): Promise<ProcessRun> {
  return runCli(args, {
    env: { BEDROCK_CLAUDE_HOME: HOME_DIR, BEDROCK_CLAUDE_LEDGER: "", BEDROCK_CLAUDE_CONFIG: "", ...env },
  });
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const NOV_1 = Date.UTC(2026, 10, 1);
const prices = new PriceBook(shippedPrices());
const NO_USAGE: Usage = {
  inputTokens: 0,
  outputTokens: 0,
  cacheWriteTokens: 0,
  cacheWrite1hTokens: 0,
  cacheReadTokens: 0,
};
/** A key with a comma and quotes, for CSV quoting. */
const ODD_KEY = 'ops, "blue"';

/**
 * Request i of 360: 120 a day from 08:00 UTC, 2 minutes apart. Even i: tag "chat", streaming,
 * prompts of 2,000-2,600 tokens; odd i: tag "nightly", not streaming, 600-800 tokens. Output grows
 * by day (x1, x3, x5) so spend rises day by day. Models: 2 in 20 unpriced (`acme-claude-ft`), else
 * every third Haiku 4.5 on its global profile, else Sonnet 4.6 on us./eu. profiles. Every 29th is
 * throttled on all 3 attempts; every 13th succeeds on a retry; every 23rd fails over from
 * us-east-1 to eu-west-1; every 17th answer is cut by max_tokens.
 */
function seedRecords(): LedgerRequest[] {
  const out: LedgerRequest[] = [];
  for (let i = 0; i < 360; i++) {
    const day = Math.floor(i / 120);
    const time = NOV_1 + day * DAY + 8 * HOUR + (i % 120) * 2 * MINUTE;
    const tag = i % 2 === 0 ? "chat" : "nightly";
    const failover = i % 23 === 4;
    const region = failover || Math.floor(i / 2) % 2 === 1 ? "eu-west-1" : "us-east-1";
    let anthropicName: string | null;
    let modelRequested: string;
    let modelResolved: string;
    if (i % 20 === 9 || i % 20 === 14) {
      anthropicName = null;
      modelRequested = "acme-claude-ft";
      modelResolved = "acme.claude-ft-v1:0";
    } else if (i % 3 === 0) {
      anthropicName = "claude-haiku-4-5-20251001";
      modelRequested = "claude-haiku-4-5";
      modelResolved = "global.anthropic.claude-haiku-4-5-20251001-v1:0";
    } else {
      anthropicName = "claude-sonnet-4-6";
      modelRequested = "claude-sonnet-4-6";
      modelResolved = `${region === "us-east-1" ? "us" : "eu"}.anthropic.claude-sonnet-4-6`;
    }
    const failed = i % 29 === 5;
    const usage: Usage = failed
      ? NO_USAGE
      : {
          ...NO_USAGE,
          inputTokens: tag === "chat" ? 2000 + (i % 7) * 100 : 600 + (i % 5) * 50,
          outputTokens: (100 + (i % 11) * 20) * (2 * day + 1),
        };
    const price = prices.priceFor(
      anthropicName,
      endpointKind("bedrock", modelResolved, undefined, new Date(time)),
    );
    const costUsd = failed ? 0 : costOf(usage, price);
    const target = `bedrock ${region}`;
    const attempt = (n: number, on: string, status: number): LedgerAttempt => {
      const ok = status === 200;
      return {
        attempt: n,
        target: `bedrock ${on}`,
        provider: "bedrock",
        region: on,
        status,
        errorName: ok ? null : status === 429 ? "ThrottlingException" : "ServiceUnavailableException",
        verdict: ok ? "success" : "retry",
        latencyMs: 120,
        ...(ok ? usage : NO_USAGE),
        costUsd: ok ? costUsd : 0,
      };
    };
    const attempts = failed
      ? [1, 2, 3].map((n) => attempt(n, region, 429))
      : failover
        ? [attempt(1, "us-east-1", 503), attempt(2, region, 200)]
        : i % 13 === 3
          ? [attempt(1, region, 429), attempt(2, region, 200)]
          : [attempt(1, region, 200)];
    out.push({
      id: `req-${String(i).padStart(3, "0")}`,
      time,
      stream: tag === "chat",
      provider: "bedrock",
      region,
      target,
      modelRequested,
      modelResolved,
      anthropicName,
      upstreamRequestId: `up-${i}`,
      key: i % 5 === 0 ? ODD_KEY : "key-b",
      tag,
      status: failed ? 429 : 200,
      errorName: failed ? "ThrottlingException" : null,
      stopReason: failed ? null : i % 17 === 0 ? "max_tokens" : "end_turn",
      partial: false,
      ...usage,
      costUsd,
      firstByteMs: failed ? null : 300,
      totalMs: 900,
      attempts,
      failover,
    });
  }
  return out;
}

const RECORDS = seedRecords();
const LEDGER = path.join(TMP, "seeded.db");
const WINDOW = ["--since", "2026-11-01", "--until", "2026-11-04"];

interface Totals {
  requests: number;
  errors: number;
  inputTokens: number;
  outputTokens: number;
  cacheWriteTokens: number;
  cacheReadTokens: number;
  costUsd: number;
  unpricedRequests: number;
  maxTokensStops: number;
  retries: number;
  failovers: number;
}

function totalsOf(records: LedgerRequest[]): Totals {
  const t: Totals = {
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
  for (const r of records) {
    t.requests++;
    if (r.status >= 400) t.errors++;
    t.inputTokens += r.inputTokens;
    t.outputTokens += r.outputTokens;
    t.cacheWriteTokens += r.cacheWriteTokens;
    t.cacheReadTokens += r.cacheReadTokens;
    t.costUsd += r.costUsd ?? 0;
    if (r.costUsd === null && r.inputTokens + r.outputTokens > 0) t.unpricedRequests++;
    if (r.stopReason === "max_tokens") t.maxTokensStops++;
    t.retries += r.attempts.length - 1;
    if (r.failover) t.failovers++;
  }
  return t;
}

const modelOf = (r: LedgerRequest) => r.anthropicName ?? r.modelResolved ?? r.modelRequested;
const dayOf = (r: LedgerRequest) => new Date(r.time).toISOString().slice(0, 10);
const n = (x: number) => x.toLocaleString("en-US");
const usd2 = (x: number) =>
  `$${x.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
/** The table's cells: columns are separated by two spaces or more. */
const cells = (line: string) => line.trim().split(/ {2,}/);

function groupBy(records: LedgerRequest[], key: (r: LedgerRequest) => string): Map<string, LedgerRequest[]> {
  const groups = new Map<string, LedgerRequest[]>();
  for (const r of records) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  return groups;
}

beforeAll(() => {
  const store = new SqliteLedger(LEDGER);
  for (const record of RECORDS) store.record(record);
  store.close();
});

describe("the seeded ledger", () => {
  it("holds what the test expects: 3 models, 2 regions, 2 tags, 3 days, unpriced, cut and failed-over requests", () => {
    expect(new Set(RECORDS.map(modelOf)).size).toBe(3);
    expect(new Set(RECORDS.map((r) => r.region))).toEqual(new Set(["us-east-1", "eu-west-1"]));
    expect(new Set(RECORDS.map((r) => r.tag))).toEqual(new Set(["chat", "nightly"]));
    expect(new Set(RECORDS.map(dayOf))).toEqual(new Set(["2026-11-01", "2026-11-02", "2026-11-03"]));
    const t = totalsOf(RECORDS);
    expect(t.unpricedRequests).toBeGreaterThan(10);
    expect(t.maxTokensStops).toBeGreaterThan(10);
    expect(t.failovers).toBeGreaterThan(10);
    expect(t.errors).toBeGreaterThan(10);
  });
});

describe("bedrock-claude usage", () => {
  it("prints a table whose totals equal the records', with unknown costs marked, a sparkline and the notes", async () => {
    const run = await cli(["usage", "--ledger", LEDGER, ...WINDOW]);
    expect(run.code, run.stderr).toBe(0);
    const t = totalsOf(RECORDS);
    const lines = run.stdout.split("\n");
    expect(lines[0]).toBe(`Usage 2026-11-01 → 2026-11-04 (UTC), by model · ledger ${LEDGER}`);
    expect(cells(lines.find((l) => l.startsWith("MODEL"))!)).toEqual([
      "MODEL",
      "REQUESTS",
      "ERRORS",
      "INPUT",
      "OUTPUT",
      "CACHE WRITE",
      "CACHE READ",
      "COST (USD)",
    ]);
    // Some requests have no price, so the total is a lower bound, marked `≥` and `!`.
    expect(cells(lines.find((l) => l.startsWith("TOTAL"))!)).toEqual([
      "TOTAL",
      n(t.requests),
      n(t.errors),
      n(t.inputTokens),
      n(t.outputTokens),
      "0",
      "0",
      `≥${usd2(t.costUsd)} !`,
    ]);
    for (const [model, records] of groupBy(RECORDS, modelOf)) {
      const g = totalsOf(records);
      const row = cells(lines.find((l) => l.startsWith(`${model} `))!);
      expect(row.slice(0, 5)).toEqual([
        model,
        n(g.requests),
        n(g.errors),
        n(g.inputTokens),
        n(g.outputTokens),
      ]);
      // The unpriced model: never a silent zero.
      expect(row[7]).toBe(model === "acme.claude-ft-v1:0" ? "unknown !" : usd2(g.costUsd));
    }
    expect(run.stdout).toContain(
      `! Cost unknown for ${t.unpricedRequests} requests: no price for acme.claude-ft-v1:0 (${t.unpricedRequests}).`,
    );
    // Spend per day: the sparkline scales each day to the dearest (output grows x1, x3, x5).
    const perDay = [...groupBy(RECORDS, dayOf).values()].map((rs) => totalsOf(rs).costUsd);
    const max = Math.max(...perDay);
    const bars = perDay.map((v) => "▁▂▃▄▅▆▇█"[Math.round((v / max) * 7)]).join("");
    expect(bars.endsWith("█")).toBe(true);
    expect(run.stdout).toContain(
      `Spend per day, 2026-11-01 → 2026-11-03: ${bars}  (peak ${usd2(max)} on 2026-11-03)`,
    );
    expect(run.stdout).toContain(
      `Cut by max_tokens: ${t.maxTokensStops} answers stopped at the limit (stop_reason: max_tokens)`,
    );
    expect(run.stdout).toContain(
      `Retries: ${t.retries} extra attempts; failovers: ${t.failovers} requests answered by a fallback target.`,
    );
  });

  it("breaks down --by model,day, one row per model and day", async () => {
    const [table, json] = await Promise.all([
      cli(["usage", "--ledger", LEDGER, ...WINDOW, "--by", "model,day"]),
      cli(["usage", "--ledger", LEDGER, ...WINDOW, "--by", "model,day", "--json"]),
    ]);
    expect(table.code, table.stderr).toBe(0);
    expect(json.code, json.stderr).toBe(0);
    const groups = groupBy(RECORDS, (r) => `${modelOf(r)} ${dayOf(r)}`);
    expect(groups.size).toBe(9);
    const report = JSON.parse(json.stdout);
    expect(report.by).toEqual(["model", "day"]);
    expect(report.rows).toHaveLength(9);
    for (const [key, records] of groups) {
      const [model, day] = key.split(" ");
      const g = totalsOf(records);
      const row = report.rows.find((r: { model: string; day: string }) => r.model === model && r.day === day);
      expect(row).toMatchObject({
        requests: g.requests,
        errors: g.errors,
        inputTokens: g.inputTokens,
        outputTokens: g.outputTokens,
        unpricedRequests: g.unpricedRequests,
        maxTokensStops: g.maxTokensStops,
        retries: g.retries,
        failovers: g.failovers,
      });
      const line = table.stdout.split("\n").find((l) => l.startsWith(`${model} `) && l.includes(` ${day} `));
      expect(cells(line!).slice(0, 4)).toEqual([model, day, n(g.requests), n(g.errors)]);
    }
    const header = table.stdout.split("\n").find((l) => l.startsWith("MODEL"))!;
    expect(cells(header).slice(0, 3)).toEqual(["MODEL", "DAY", "REQUESTS"]);
  });

  it("prints {since, until, by, rows, totals} with --json, the unpriced cost as null", async () => {
    const run = await cli(["usage", "--ledger", LEDGER, ...WINDOW, "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(Object.keys(report)).toEqual(["since", "until", "by", "rows", "totals"]);
    expect(report.since).toBe("2026-11-01T00:00:00.000Z");
    expect(report.until).toBe("2026-11-04T00:00:00.000Z");
    expect(report.by).toEqual(["model"]);
    const t = totalsOf(RECORDS);
    const { costUsd, ...counts } = t;
    expect(report.totals).toMatchObject({ ...counts, costComplete: false });
    expect(report.totals.costUsd).toBeCloseTo(costUsd, 6);
    const rows = Object.fromEntries(report.rows.map((r: { model: string }) => [r.model, r]));
    expect(Object.keys(rows).sort()).toEqual([
      "acme.claude-ft-v1:0",
      "claude-haiku-4-5-20251001",
      "claude-sonnet-4-6",
    ]);
    expect(rows["acme.claude-ft-v1:0"]).toMatchObject({ costUsd: null, costComplete: false });
    for (const model of ["claude-haiku-4-5-20251001", "claude-sonnet-4-6"]) {
      const g = totalsOf(RECORDS.filter((r) => modelOf(r) === model));
      expect(rows[model].costComplete).toBe(true);
      expect(rows[model].costUsd).toBeCloseTo(g.costUsd, 6);
    }
  });

  it("prints RFC 4180 CSV with --csv: a header, one line per row, quoted fields", async () => {
    const run = await cli(["usage", "--ledger", LEDGER, ...WINDOW, "--csv", "--by", "key,model"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.endsWith("\r\n")).toBe(true);
    const lines = run.stdout.slice(0, -2).split("\r\n");
    expect(lines[0]).toBe(
      "key,model,requests,errors,input_tokens,output_tokens,cache_write_tokens,cache_read_tokens,cost_usd,cost_complete,unpriced_requests,max_tokens_stops,retries,failovers",
    );
    const groups = groupBy(RECORDS, (r) => `${r.key}\u0000${modelOf(r)}`);
    expect(lines).toHaveLength(1 + groups.size);
    for (const [key, records] of groups) {
      const [k = "", model = ""] = key.split("\u0000");
      const g = totalsOf(records);
      const quotedKey = k === ODD_KEY ? '"ops, ""blue"""' : k;
      const line = lines.find((l) => l.startsWith(`${quotedKey},${model},`));
      expect(line, `${k} ${model}`).toBeDefined();
      const fields = line!.slice(quotedKey.length + 1).split(",");
      expect(fields.slice(0, 7)).toEqual([
        model,
        String(g.requests),
        String(g.errors),
        String(g.inputTokens),
        String(g.outputTokens),
        "0",
        "0",
      ]);
      if (model === "acme.claude-ft-v1:0")
        expect(fields.slice(7, 10)).toEqual(["", "false", String(g.unpricedRequests)]);
      else {
        expect(Number(fields[7])).toBeCloseTo(g.costUsd, 6);
        expect(fields[8]).toBe("true");
      }
      expect(fields.slice(10)).toEqual([String(g.maxTokensStops), String(g.retries), String(g.failovers)]);
    }
  });

  it("keeps to --since and --until (dates and times, until exclusive), per hour on short windows", async () => {
    const [day2, hour, empty] = await Promise.all([
      cli(["usage", "--ledger", LEDGER, "--since", "2026-11-02", "--until", "2026-11-03", "--json"]),
      cli([
        "usage",
        "--ledger",
        LEDGER,
        "--since",
        "2026-11-02T09:00",
        "--until",
        "2026-11-02T10:00Z",
        "--by",
        "hour",
      ]),
      cli(["usage", "--ledger", LEDGER, "--since", "2026-12-01", "--until", "2026-12-02"]),
    ]);
    const onDay2 = RECORDS.filter((r) => dayOf(r) === "2026-11-02");
    expect(day2.code, day2.stderr).toBe(0);
    const { costUsd, ...counts } = totalsOf(onDay2);
    expect(JSON.parse(day2.stdout).totals).toMatchObject(counts);
    expect(JSON.parse(day2.stdout).totals.costUsd).toBeCloseTo(costUsd, 6);

    const inHour = onDay2.filter(
      (r) => r.time >= Date.UTC(2026, 10, 2, 9) && r.time < Date.UTC(2026, 10, 2, 10),
    );
    expect(inHour).toHaveLength(30);
    expect(hour.code, hour.stderr).toBe(0);
    expect(cells(hour.stdout.split("\n").find((l) => l.startsWith("2026-11-02T09:00"))!).slice(0, 2)).toEqual(
      ["2026-11-02T09:00", "30"],
    );
    expect(hour.stdout).toMatch(/Spend per hour, 2026-11-02 09:00 → 2026-11-02 09:00: █ /);

    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stdout).toContain(
      `No requests from 2026-12-01 to 2026-12-02 (UTC) in ${LEDGER}. It holds 360 requests, from 2026-11-01 to 2026-11-03: try --since 2026-11-01.`,
    );
  });

  it("defaults to the last 30 days", async () => {
    const file = path.join(TMP, "recent.db");
    const store = new SqliteLedger(file);
    const now = Date.now();
    store.record({ ...RECORDS[1]!, id: "recent", time: now - HOUR });
    store.record({ ...RECORDS[2]!, id: "old", time: now - 40 * DAY });
    store.close();
    const [recent, wider] = await Promise.all([
      cli(["usage", "--ledger", file, "--json"]),
      cli(["usage", "--ledger", file, "--json", "--since", "60d"]),
    ]);
    expect(JSON.parse(recent.stdout).totals.requests).toBe(1);
    expect(Date.parse(JSON.parse(recent.stdout).since)).toBeCloseTo(now - 30 * DAY, -5);
    expect(JSON.parse(wider.stdout).totals.requests).toBe(2);
  });

  it("reads relative and ISO dates", () => {
    const now = Date.UTC(2026, 10, 25, 9, 34, 30);
    expect(parseWhen("7d", now)).toBe(now - 7 * DAY);
    expect(parseWhen("24h", now)).toBe(now - DAY);
    expect(parseWhen("90m", now)).toBe(now - 90 * MINUTE);
    expect(parseWhen("2w", now)).toBe(now - 14 * DAY);
    expect(parseWhen("today", now)).toBe(Date.UTC(2026, 10, 25));
    expect(parseWhen("yesterday", now)).toBe(Date.UTC(2026, 10, 24));
    expect(parseWhen("month", now)).toBe(Date.UTC(2026, 10, 1));
    expect(parseWhen("2026-11-02", now)).toBe(Date.UTC(2026, 10, 2));
    expect(parseWhen("2026-11-02T09:30", now)).toBe(Date.UTC(2026, 10, 2, 9, 30));
    expect(parseWhen("2026-11-02 09:30", now)).toBe(Date.UTC(2026, 10, 2, 9, 30));
    expect(parseWhen("2026-11-02T09:30+02:00", now)).toBe(Date.UTC(2026, 10, 2, 7, 30));
    expect(() => parseWhen("last tuesday", now)).toThrow(/cannot read "last tuesday"/);
    expect(() => parseWhen("2026-13-45", now)).toThrow(/cannot read/);
  });

  it("says where it looked when there is no ledger, and creates none", async () => {
    const missing = path.join(TMP, "nowhere", "ledger.db");
    const [named, byDefault, emulator] = await Promise.all([
      cli(["usage", "--ledger", missing]),
      cli(["usage"]),
      cli(["usage", "advise", "--emulator"]),
    ]);
    expect(named.code).toBe(4);
    expect(named.stderr).toContain(`no usage ledger at ${missing} (--ledger)`);
    expect(existsSync(missing)).toBe(false);
    expect(byDefault.code).toBe(4);
    expect(byDefault.stderr).toContain(`no usage ledger at ${path.join(HOME_DIR, "ledger.db")} (the default`);
    expect(emulator.code).toBe(4);
    expect(emulator.stderr).toContain(`no usage ledger at ${path.join(HOME_DIR, "emulator-ledger.db")}`);
    expect(existsSync(HOME_DIR)).toBe(false);
  });

  it("says an empty ledger is empty", async () => {
    const file = path.join(TMP, "empty.db");
    new SqliteLedger(file).close();
    const [table, json, csv] = await Promise.all([
      cli(["usage", "--ledger", file]),
      cli(["usage", "--ledger", file, "--json"]),
      cli(["usage", "--ledger", file, "--csv"]),
    ]);
    expect(table.code).toBe(0);
    expect(table.stdout).toBe(`The ledger ${file} is empty: no request has been recorded yet.\n`);
    expect(JSON.parse(json.stdout)).toMatchObject({ rows: [], totals: { requests: 0, costUsd: 0 } });
    expect(json.stderr).toContain("is empty");
    expect(csv.stdout.split("\r\n")).toHaveLength(2); // the header and the final line break
  });

  it("reads the ledger named by --emulator, the config file and BEDROCK_CLAUDE_LEDGER", async () => {
    const home = path.join(TMP, "home-with-ledgers");
    const emulated = new SqliteLedger(path.join(home, "emulator-ledger.db"));
    for (const r of RECORDS.slice(0, 7)) emulated.record(r);
    emulated.close();
    const config = path.join(TMP, "config.json");
    writeFileSync(config, JSON.stringify({ ledger: { path: LEDGER } }));
    const [fromEmulator, fromConfig, fromEnv] = await Promise.all([
      cli(["usage", "--emulator", ...WINDOW, "--json"], { BEDROCK_CLAUDE_HOME: home }),
      cli(["usage", "--config", config, ...WINDOW, "--json"]),
      cli(["usage", ...WINDOW, "--json"], { BEDROCK_CLAUDE_LEDGER: LEDGER }),
    ]);
    expect(JSON.parse(fromEmulator.stdout).totals.requests).toBe(7);
    expect(JSON.parse(fromConfig.stdout).totals.requests).toBe(360);
    expect(JSON.parse(fromEnv.stdout).totals.requests).toBe(360);
  });

  it("exits 2 on usage mistakes", async () => {
    const runs = await Promise.all([
      cli(["usage", "--ledger", LEDGER, "--by", "colour"]),
      cli(["usage", "--ledger", LEDGER, "--since", "soon"]),
      cli(["usage", "--ledger", LEDGER, "--since", "2026-11-04", "--until", "2026-11-01"]),
      cli(["usage", "--ledger", LEDGER, "--json", "--csv"]),
      cli(["usage", "--ledger", LEDGER, "--emulator"]),
      cli(["usage", "advise", "--ledger", LEDGER, "--provisioned-hourly-usd", "20"]),
      cli([
        "usage",
        "advise",
        "--ledger",
        LEDGER,
        "--provisioned-hourly-usd",
        "-1",
        "--provisioned-tokens-per-minute",
        "9",
      ]),
    ]);
    expect(runs.map((r) => r.code)).toEqual([2, 2, 2, 2, 2, 2, 2]);
    expect(runs[0]!.stderr).toContain('--by: unknown "colour"');
    expect(runs[1]!.stderr).toContain('--since: cannot read "soon"');
    expect(runs[5]!.stderr).toContain("go together");
  });
});

describe("bedrock-claude usage advise", () => {
  const answered = RECORDS.filter((r) => r.status === 200);
  const sonnet = answered.filter((r) => r.anthropicName === "claude-sonnet-4-6");

  it("advises batch, caching, global profiles and asks for a provisioned quote, with savings from the records", async () => {
    const run = await cli(["usage", "advise", "--ledger", LEDGER, ...WINDOW, "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.days).toBe(3);
    expect(report.requests).toBe(360);
    expect(report.unpricedRequests).toBe(totalsOf(RECORDS).unpricedRequests);
    const kinds = report.items.map((i: { kind: string; scope: { model: string; tag?: string } }) => [
      i.kind,
      i.scope.model,
      i.scope.tag,
    ]);
    expect(kinds).toHaveLength(5);
    expect(kinds).toEqual(
      expect.arrayContaining([
        ["batch", "claude-sonnet-4-6", "nightly"],
        ["batch", "claude-haiku-4-5-20251001", "nightly"],
        // Haiku 4.5 caches prefixes of 4,096 tokens or more: its 2,000-2,600-token prompts cannot be.
        ["prompt-caching", "claude-sonnet-4-6", "chat"],
        ["global-profile", "claude-sonnet-4-6", undefined],
        ["provisioned-throughput", "claude-sonnet-4-6", undefined],
      ]),
    );
    const item = (kind: string, model: string) =>
      report.items.find(
        (i: { kind: string; scope: { model: string } }) => i.kind === kind && i.scope.model === model,
      );

    // Batch: half the cost of the non-streaming (nightly) answers, times 30 / 3 days a month.
    for (const model of ["claude-sonnet-4-6", "claude-haiku-4-5-20251001"]) {
      const cost = answered
        .filter((r) => r.anthropicName === model && !r.stream)
        .reduce((s, r) => s + (r.costUsd ?? 0), 0);
      expect(item("batch", model).windowSavingUsd).toBeCloseTo(cost / 2, 6);
      expect(item("batch", model).monthlySavingUsd).toBeCloseTo((cost / 2) * 10, 5);
    }

    // Global profiles: Sonnet 4.6 on us./eu. ids at the regional price, against the global price.
    const regional = sonnet.reduce(
      (s, r) => s + costOf(r, prices.priceFor("claude-sonnet-4-6", "regional"))!,
      0,
    );
    const global = sonnet.reduce((s, r) => s + costOf(r, prices.priceFor("claude-sonnet-4-6", "global"))!, 0);
    expect(regional).toBeCloseTo(global * 1.1, 6);
    expect(item("global-profile", "claude-sonnet-4-6").windowSavingUsd).toBeCloseTo(regional - global, 6);
    expect(item("global-profile", "claude-sonnet-4-6").scope.regions).toEqual(["eu-west-1", "us-east-1"]);

    // Caching: the smallest Sonnet chat prompt is the assumed shared prefix.
    const chat = sonnet.filter((r) => r.tag === "chat");
    const caching = item("prompt-caching", "claude-sonnet-4-6");
    expect(caching.figures).toMatchObject({
      requests: chat.length,
      inputTokens: chat.reduce((s, r) => s + r.inputTokens, 0),
      assumedPrefixTokens: Math.min(...chat.map((r) => r.inputTokens)),
      cacheWrites: 3, // sonnet chat requests come 4-8 minutes apart: a 1-hour cache, written once a day
      ttl: "1-hour",
    });
    expect(caching.windowSavingUsd).toBeGreaterThan(0);

    const provisioned = item("provisioned-throughput", "claude-sonnet-4-6");
    expect(provisioned.monthlySavingUsd).toBeNull();
    expect(provisioned.how).toContain("--provisioned-hourly-usd");
    expect(report.notes).toEqual(
      expect.arrayContaining([expect.stringContaining(`no price (acme.claude-ft-v1:0)`)]),
    );
  });

  it("prices provisioned throughput with a quote: it pays, or says from when it would", async () => {
    const quote = ["--provisioned-tokens-per-minute", "100000", "--provisioned-hourly-usd"];
    const [cheap, dear] = await Promise.all([
      cli(["usage", "advise", "--ledger", LEDGER, ...WINDOW, "--json", ...quote, "0.01"]),
      cli(["usage", "advise", "--ledger", LEDGER, ...WINDOW, "--json", ...quote, "40"]),
    ]);
    const spendPerDay = sonnet.reduce((s, r) => s + (r.costUsd ?? 0), 0) / 3;
    // One request every 2 minutes at most: the peak minute is the largest Sonnet request, far below one unit.
    const peak = Math.max(...sonnet.map((r) => r.inputTokens + r.outputTokens));
    const item = JSON.parse(cheap.stdout).items.find(
      (i: { kind: string }) => i.kind === "provisioned-throughput",
    );
    expect(item.figures).toMatchObject({ units: 1, peakTokensPerMinute: peak });
    expect(item.figures.provisionedUsdPerDay).toBeCloseTo(0.24, 10);
    expect(item.monthlySavingUsd).toBeCloseTo((spendPerDay - 0.24) * 30, 5);
    const dearReport = JSON.parse(dear.stdout);
    expect(dearReport.items.some((i: { kind: string }) => i.kind === "provisioned-throughput")).toBe(false);
    expect(dearReport.notes.join("\n")).toContain(
      "Provisioned throughput does not pay for claude-sonnet-4-6 yet",
    );
  });

  it("prints numbered advice with savings, why and how", async () => {
    const run = await cli(["usage", "advise", "--ledger", LEDGER, ...WINDOW]);
    expect(run.code, run.stderr).toBe(0);
    const spend = totalsOf(RECORDS).costUsd;
    expect(run.stdout.split("\n")[0]).toBe(
      `Advice from 360 requests, 2026-11-01 → 2026-11-04 (UTC, 3 days), spend ${usd2(spend)} + unknown ! (≈ ${usd2(spend * 10)} a month) · ledger ${LEDGER}`,
    );
    expect(run.stdout).toMatch(
      /^1\. Send the non-streaming claude-sonnet-4-6 requests tagged "nightly" as batch inference jobs$/m,
    );
    expect(run.stdout).toMatch(/^ {3}saves ≈ \$\d+\.\d\d a month/m);
    expect(run.stdout).toMatch(/^ {3}why: /m);
    expect(run.stdout).toMatch(/^ {3}how: /m);
    expect(run.stdout).toMatch(/^5\. Compare provisioned throughput with on-demand for claude-sonnet-4-6$/m);
    expect(run.stdout).toContain("Notes:");
  });
});
