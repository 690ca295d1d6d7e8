import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { eventually } from "../../test/helpers.js";
import { seededRandom } from "../util/random.js";
import { journalMover } from "./journal-mover.js";
import type { GroupKey, LedgerRequest } from "./ledger.js";
import { rowValues } from "./ledger-rows.js";
import { MIGRATIONS, SqliteLedger } from "./sqlite-ledger.js";

const DAY = 86_400_000;
const START = Date.UTC(2026, 10, 20);

function records(count: number): LedgerRequest[] {
  const random = seededRandom(11);
  const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)]!;
  return Array.from({ length: count }, (_, i) => {
    const input = Math.floor(random() * 2000);
    const output = Math.floor(random() * 500);
    const priced = random() > 0.1;
    return {
      id: `r${String(i).padStart(6, "0")}`,
      time: START + Math.floor(random() * 3 * DAY),
      stream: random() > 0.5,
      provider: "bedrock",
      region: pick(["us-east-1", "eu-west-1"]),
      target: "t",
      modelRequested: "m",
      modelResolved: null,
      anthropicName: pick(["claude-sonnet-4-6", "claude-haiku-4-5-20251001", "claude-opus-4-7"]),
      upstreamRequestId: null,
      key: pick([null, "k1"]),
      tag: pick([null, "a", "b"]),
      status: pick([200, 200, 200, 429, 0]),
      errorName: null,
      stopReason: pick(["end_turn", "max_tokens", null]),
      partial: false,
      inputTokens: input,
      outputTokens: output,
      cacheWriteTokens: 0,
      cacheWrite1hTokens: 0,
      cacheReadTokens: 0,
      costUsd: priced ? (input * 3 + output * 15) / 1e6 : null,
      firstByteMs: 1,
      totalMs: 2,
      attempts: [],
      failover: random() > 0.9,
    };
  });
}

describe("SqliteLedger reports", () => {
  it("give the same sums from the hourly rollup (with raw edges) as from the raw records", () => {
    const { file } = tempLedger();
    const ledger = new SqliteLedger(file);
    const all = records(800);
    for (const r of all) ledger.record(r);
    const random = seededRandom(5);
    const groupings: GroupKey[][] = [
      [],
      ["model"],
      ["day"],
      ["hour"],
      ["model", "day"],
      ["tag", "region"],
      ["key"],
    ];
    for (let trial = 0; trial < 25; trial++) {
      const since = START + Math.floor(random() * 2 * DAY);
      const until = since + Math.floor(random() * 1.5 * DAY);
      const by = groupings[trial % groupings.length]!;
      const rows = ledger.report({ since, until, by });
      const inWindow = all.filter((r) => r.time >= since && r.time < until);
      expect(rows.reduce((n, r) => n + r.requests, 0)).toBe(inWindow.length);
      expect(rows.reduce((n, r) => n + r.inputTokens, 0)).toBe(
        inWindow.reduce((n, r) => n + r.inputTokens, 0),
      );
      expect(rows.reduce((n, r) => n + r.costUsd, 0)).toBeCloseTo(
        inWindow.reduce((n, r) => n + (r.costUsd ?? 0), 0),
        9,
      );
      expect(rows.reduce((n, r) => n + r.unpricedRequests, 0)).toBe(
        inWindow.filter((r) => r.costUsd === null && r.inputTokens + r.outputTokens > 0).length,
      );
      expect(rows.reduce((n, r) => n + r.errors, 0)).toBe(
        inWindow.filter((r) => r.status >= 400 || r.status === 0).length,
      );
      expect(rows.reduce((n, r) => n + r.maxTokensStops, 0)).toBe(
        inWindow.filter((r) => r.stopReason === "max_tokens").length,
      );
      // Each group appears once, even when rollup and edge rows both hold it.
      const ids = rows.map((r) => JSON.stringify(r.group));
      expect(new Set(ids).size).toBe(ids.length);
    }
    const tagged = ledger.report({ tag: "a", by: ["model"] });
    expect(tagged.reduce((n, r) => n + r.requests, 0)).toBe(all.filter((r) => r.tag === "a").length);
    ledger.close();
  });

  it("migrates a version-1 ledger: its records and attempts kept, the rollup backfilled", () => {
    const { file } = tempLedger();
    const v1 = new Database(file);
    v1.exec(MIGRATIONS[0]!);
    v1.pragma("user_version = 1");
    const insert = v1.prepare(
      `INSERT INTO requests VALUES (?, ?, 0, 'bedrock', 'us-east-1', 't', 'm', NULL, 'claude-sonnet-4-6', NULL, NULL, 'a',
        200, NULL, 'end_turn', 0, 100, 10, 0, 0, 0, 0.5, 1, 2, 1, 0)`,
    );
    for (let i = 0; i < 5; i++) insert.run(`old${i}`, START + i * 1000);
    v1.prepare(
      "INSERT INTO attempts VALUES ('old0', 1, 't', 'bedrock', 'us-east-1', 200, NULL, 'success', 5, 100, 10, 0, 0, 0, 0.5)",
    ).run();
    v1.close();
    const upgraded = new SqliteLedger(file);
    expect(upgraded.report({})[0]).toMatchObject({ requests: 5, inputTokens: 500, costUsd: 2.5 });
    expect(upgraded.requests({}).find((r) => r.id === "old0")?.attempts).toHaveLength(1);
    upgraded.record({ ...records(1)[0]!, id: "new", time: START + 10_000 });
    expect(
      upgraded.report({ by: ["tag"] }).find((r) => r.group.tag === "a")!.requests,
    ).toBeGreaterThanOrEqual(5);
    upgraded.close();
  });

  it("migrates a version-3 ledger to 4: requests, attempts (in order) and the rollup kept, reports unchanged", () => {
    const { file } = tempLedger();
    const v3 = new Database(file);
    for (const sql of MIGRATIONS.slice(0, 3)) v3.exec(sql);
    v3.pragma("user_version = 3");
    const all = records(300);
    const insert = v3.prepare(`INSERT INTO requests VALUES (${new Array(26).fill("?").join(", ")})`);
    const attempt = v3.prepare(`INSERT INTO attempts VALUES (${new Array(16).fill("?").join(", ")})`);
    v3.transaction(() => {
      for (const [i, r] of all.entries()) {
        // The row as version 3 held it: no attempt list, the attempt count of the attempts below.
        const row = rowValues(r).slice(0, 26);
        row[24] = i % 3 === 0 ? 2 : 1;
        insert.run(row);
        // Inserted out of order: the migration must keep them by seq.
        if (i % 3 === 0) {
          attempt.run(
            r.id,
            2,
            2,
            "b",
            "bedrock",
            "eu-west-1",
            200,
            null,
            "success",
            7,
            r.inputTokens,
            r.outputTokens,
            0,
            0,
            0,
            r.costUsd,
          );
        }
        attempt.run(
          r.id,
          1,
          1,
          "a",
          "bedrock",
          "us-east-1",
          i % 3 === 0 ? 503 : 200,
          i % 3 === 0 ? "ServiceUnavailableException" : null,
          i % 3 === 0 ? "failover" : "success",
          3,
          0,
          0,
          0,
          0,
          0,
          i % 3 === 0 ? 0 : r.costUsd,
        );
      }
    })();
    const query = { by: ["model", "day", "tag"] as GroupKey[] };
    v3.close();
    // The v3 report, through a store that reads the same data (the v3 tables kept by a copy).
    const copy = `${file}.v3-copy`;
    const source = new Database(file);
    source.prepare("VACUUM INTO ?").run(copy);
    source.close();

    const upgraded = new SqliteLedger(file);
    const check = new Database(file, { readonly: true });
    expect(check.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    expect(check.prepare("SELECT name FROM sqlite_master WHERE name = 'attempts'").all()).toEqual([]);
    check.close();
    const got = upgraded.requests({});
    expect(got).toHaveLength(all.length);
    const byId = new Map(got.map((r) => [r.id, r]));
    for (const [i, r] of all.entries()) {
      const g = byId.get(r.id)!;
      expect({ ...g, attempts: undefined }).toEqual({ ...r, attempts: undefined });
      expect(
        g.attempts.map((a) => [a.attempt, a.target, a.verdict, a.status, a.errorName, a.costUsd]),
      ).toEqual(
        i % 3 === 0
          ? [
              [1, "a", "failover", 503, "ServiceUnavailableException", 0],
              [2, "b", "success", 200, null, r.costUsd],
            ]
          : [[1, "a", "success", 200, null, r.costUsd]],
      );
    }
    // The rollup came through: reports over whole hours equal those over the raw rows.
    const raw = new Database(copy, { readonly: true });
    const rawTotals = raw
      .prepare("SELECT COUNT(*) AS n, SUM(input_tokens) AS input, SUM(attempts - 1) AS retries FROM requests")
      .get() as { n: number; input: number; retries: number };
    raw.close();
    const totals = upgraded.report({})[0]!;
    expect([totals.requests, totals.inputTokens, totals.retries]).toEqual([
      rawTotals.n,
      rawTotals.input,
      rawTotals.retries,
    ]);
    expect(upgraded.report(query).reduce((n, r) => n + r.requests, 0)).toBe(all.length);
    // And it takes new records.
    upgraded.record({ ...all[0]!, id: "after-upgrade", time: START + 5 * DAY });
    expect(upgraded.report({})[0]!.requests).toBe(all.length + 1);
    upgraded.close();
  });

  it("keeps the hourly rollup equal to the sums of its raw rows, on every write path", () => {
    const { file } = tempLedger();
    const all = records(900);
    // Journaled and batched; one transaction per record (no journal); recovered from a dead process's journal.
    const batched = new SqliteLedger(file, { flushMs: 60_000 });
    for (const r of all.slice(0, 400)) batched.record(r);
    batched.close();
    const direct = new SqliteLedger(file, { journal: false });
    for (const r of all.slice(400, 600)) direct.record(r);
    direct.close();
    const dead = spawnSync(process.execPath, ["-e", ""]).pid;
    writeFileSync(
      `${file}.journal-${os.hostname().replace(/[^\w.]/g, "_")}-${dead}-rollup.jsonl`,
      all
        .slice(600)
        .map((r) => `${JSON.stringify(rowValues(r))}\n`)
        .join(""),
    );
    new SqliteLedger(file).close();

    const db = new Database(file, { readonly: true });
    const order = "ORDER BY hour, provider, region, model, key, tag";
    // The sums as migration 3 defines them, computed here from the raw rows.
    const expected = db
      .prepare(
        `SELECT time / 3600000 AS hour, provider, region, COALESCE(anthropic_name, model_resolved, model_requested) AS model,
           COALESCE(key, '') AS key, COALESCE(tag, '') AS tag, COUNT(*) AS requests,
           SUM(status >= 400 OR status = 0) AS errors, SUM(input_tokens) AS input_tokens,
           SUM(output_tokens) AS output_tokens, SUM(cache_write_tokens) AS cache_write_tokens,
           SUM(cache_read_tokens) AS cache_read_tokens, TOTAL(cost_usd) AS cost_usd,
           SUM(cost_usd IS NULL AND (input_tokens + output_tokens) > 0) AS unpriced,
           SUM(stop_reason IS 'max_tokens') AS max_tokens_stops, SUM(attempts - 1) AS retries,
           SUM(failover) AS failovers
         FROM requests GROUP BY 1, 2, 3, 4, 5, 6 ${order}`,
      )
      .all() as Record<string, number | string>[];
    const rollup = db.prepare(`SELECT * FROM usage_hourly ${order}`).all() as Record<
      string,
      number | string
    >[];
    db.close();
    expect(expected.reduce((n, r) => n + Number(r.requests), 0)).toBe(all.length);
    expect(rollup).toHaveLength(expected.length);
    for (const [i, row] of rollup.entries()) {
      const want = expected[i]!;
      expect({ ...row, cost_usd: 0 }).toEqual({ ...want, cost_usd: 0 });
      expect(row.cost_usd as number).toBeCloseTo(want.cost_usd as number, 9);
    }
  });

  it("migrates a version-4 ledger to 5: the rollup trigger is gone, and each record is rolled up once", () => {
    const { file } = tempLedger();
    const v4 = new Database(file);
    for (const sql of MIGRATIONS.slice(0, 4)) v4.exec(sql);
    v4.pragma("user_version = 4");
    const all = records(200);
    const insert = v4.prepare(`INSERT INTO requests VALUES (${new Array(27).fill("?").join(", ")})`);
    // Rolled up by version 4's trigger.
    v4.transaction(() => {
      for (const r of all.slice(0, 100)) insert.run(rowValues(r).map((v) => (Array.isArray(v) ? "[]" : v)));
    })();
    v4.close();
    const upgraded = new SqliteLedger(file);
    for (const r of all.slice(100)) upgraded.record(r);
    const totals = upgraded.report({})[0]!;
    expect(totals.requests).toBe(200);
    expect(totals.inputTokens).toBe(all.reduce((n, r) => n + r.inputTokens, 0));
    upgraded.close();
    const check = new Database(file, { readonly: true });
    expect(check.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").all()).toEqual([]);
    expect((check.prepare("SELECT SUM(requests) AS n FROM usage_hourly").get() as { n: number }).n).toBe(200);
    check.close();
  });

  it("hands a full batch to the mover thread at the next turn, and replaces a journal past 1 MB, deleted once in", async () => {
    const { dir, file } = tempLedger();
    const writer = new SqliteLedger(file, { flushMs: 60_000 });
    const raw = new Database(file, { readonly: true });
    const count = () => (raw.prepare("SELECT COUNT(*) AS n FROM requests").get() as { n: number }).n;
    const journals = () => readdirSync(dir).filter((n) => n.includes(".journal-"));
    const all = records(3001).map((r, i) => ({ ...r, id: `big${i}`, upstreamRequestId: "x".repeat(300) }));
    for (const r of all.slice(0, 999)) writer.record(r);
    await new Promise((resolve) => setImmediate(resolve));
    expect(count()).toBe(0);
    writer.record(all[999]!);
    // Not yet: the batch goes in off the response's path, and not on its thread.
    expect(count()).toBe(0);
    expect(await eventually(count, (n) => n === 1000, 10_000)).toBe(1000);
    // About 0.45 MB of journal so far: kept.
    const [first] = journals();
    expect(statSync(path.join(dir, first!)).size).toBeGreaterThan(400_000);
    // About 1.35 MB after the third batch: that batch is the journal's last, and it is deleted once in.
    for (const r of all.slice(1000, 3000)) writer.record(r);
    expect(
      await eventually(
        () => [count(), journals().length],
        ([n, left]) => n === 3000 && left === 0,
        10_000,
      ),
    ).toEqual([3000, 0]);
    // The next record starts a new journal.
    writer.record(all[3000]!);
    expect(journals()).toHaveLength(1);
    expect(journals()[0]).not.toBe(first);
    expect(writer.report({})[0]!.requests).toBe(3001);
    writer.close();
    expect(journals()).toEqual([]);
    raw.close();
  });

  it("keeps recording while another connection holds the database locked, and moves the records in once it lets go", async () => {
    const { file } = tempLedger();
    const writer = new SqliteLedger(file, { flushMs: 60_000 });
    const all = records(2000);
    const holder = new Database(file);
    holder.exec("BEGIN IMMEDIATE");
    const started = Date.now();
    for (const r of all.slice(0, 1000)) writer.record(r);
    // The full batch is handed on at this turn; the mover thread waits for the lock, this thread does not.
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const r of all.slice(1000)) writer.record(r);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Waiting out the busy timeout (5 s) here would have taken this long at least.
    expect(Date.now() - started).toBeLessThan(2_000);
    const count = () => (holder.prepare("SELECT COUNT(*) AS n FROM requests").get() as { n: number }).n;
    expect(count()).toBe(0);
    holder.exec("COMMIT");
    expect(await eventually(count, (n) => n === 1000, 10_000)).toBe(1000);
    // A read here waits for the mover, so it sees all.
    expect(writer.report({})[0]!.requests).toBe(2000);
    writer.close();
    holder.close();
  });

  it("moves a process's journal in when it exits, on its mover thread or its own", () => {
    const { dir, file } = tempLedger();
    const child = (wait: number) =>
      spawnSync(
        process.execPath,
        [
          "--import",
          "tsx",
          "-e",
          `import { SqliteLedger } from ${JSON.stringify(path.resolve("src/usage/sqlite-ledger.ts"))};
           const ledger = new SqliteLedger(${JSON.stringify(file)}, { flushMs: 20 });
           const all = ${JSON.stringify(records(100))};
           for (const r of all.slice(0, 50)) ledger.record({ ...r, id: r.id + "-${wait}" });
           setTimeout(() => {
             for (const r of all.slice(50)) ledger.record({ ...r, id: r.id + "-${wait}" });
           }, ${wait});`,
        ],
        { cwd: path.resolve("."), encoding: "utf8" },
      );
    // Exits at once (no mover thread started), and after its batches went to the mover thread.
    for (const wait of [0, 1_000]) {
      const run = child(wait);
      expect(run.status, run.stderr).toBe(0);
    }
    expect(readdirSync(dir).filter((n) => n.includes(".journal-"))).toEqual([]);
    expect(storedCounts(file)).toEqual({ requests: 200, rolledUp: 200 });
  });

  it("journals records and moves them in: before reads, on close, and from a dead process's journal when opened", () => {
    const { dir, file } = tempLedger();
    const all = records(20);
    const journals = () => readdirSync(dir).filter((n) => n.includes(".journal-"));
    const writer = new SqliteLedger(file, { flushMs: 60_000 });
    for (const r of all.slice(0, 10)) writer.record(r);
    // Journaled, not yet in SQLite: another connection does not see them, this process's readers do.
    const raw = new Database(file, { readonly: true });
    const count = () => (raw.prepare("SELECT COUNT(*) AS n FROM requests").get() as { n: number }).n;
    expect(count()).toBe(0);
    expect(journals()).toHaveLength(1);
    const reader = new SqliteLedger(file);
    expect(reader.report({})[0]!.requests).toBe(10);
    expect(count()).toBe(10);
    reader.close();

    // A process killed with records in its journal: one already in SQLite (killed between the
    // commit and the truncation), one line cut by the kill.
    const dead = spawnSync(process.execPath, ["-e", ""]).pid;
    const lines = all.slice(10).map((r) => JSON.stringify(rowValues(r)));
    const orphan = `${file}.journal-${os.hostname().replace(/[^\w.]/g, "_")}-${dead}-abc123.jsonl`;
    writeFileSync(
      orphan,
      `${JSON.stringify(rowValues(all[0]!))}\n${lines.join("\n")}\n${lines[0]!.slice(0, 40)}`,
    );
    writer.close();
    expect(journals()).toEqual([orphan].map((f) => path.basename(f)));
    const next = new SqliteLedger(file);
    expect(journals()).toEqual([]);
    expect(
      next
        .requests({})
        .map((r) => r.id)
        .sort(),
    ).toEqual(all.map((r) => r.id).sort());
    expect(next.report({})[0]!.requests).toBe(20);
    next.close();
    raw.close();
  });

  it("drops the ranges of a ledger whose folder was deleted, so that other ledgers' ranges go on", () => {
    const { dir: gone, file } = tempLedger();
    const a = new SqliteLedger(file, { flushMs: 60_000 });
    const all = records(20);
    for (const r of all.slice(0, 10)) a.record(r);
    rmSync(gone, { recursive: true, force: true });
    // Its folder and journal are gone (the mover thread cannot open the ledger): nothing to move,
    // and the mover thread goes on.
    expect(() => a.flush()).not.toThrow();
    expect(journalMover.active).toBe(true);
    a.close();
    const b = new SqliteLedger(tempLedger().file);
    for (const r of all) b.record(r);
    expect(b.report({})[0]!.requests).toBe(20);
    b.close();
  });

  it("survives its mover thread dying: a new one takes what was not done, and each record counts once", async () => {
    const { file } = tempLedger();
    const writer = new SqliteLedger(file, { flushMs: 5 });
    const all = records(1200);
    // Six deaths: the first three are replaced by new threads, after that batches go in on this one.
    for (let round = 0; round < 6; round++) {
      for (const r of all.slice(round * 200, round * 200 + 200)) writer.record(r);
      await new Promise((resolve) => setTimeout(resolve, 10));
      await journalMover.crash();
    }
    expect(journalMover.active).toBe(false);
    const totals = writer.report({})[0]!;
    expect(totals.requests).toBe(1200);
    expect(totals.inputTokens).toBe(all.reduce((n, r) => n + r.inputTokens, 0));
    writer.close();
    expect(storedCounts(file)).toEqual({ requests: 1200, rolledUp: 1200 });
  });
});

/** A ledger file's path in a new folder of its own (the folder is where its journals go). */
function tempLedger(): { dir: string; file: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "ledger-"));
  return { dir, file: path.join(dir, "ledger.db") };
}

/** What another connection finds in a ledger file: its request rows, and the requests its rollup counts. */
function storedCounts(file: string): { requests: number; rolledUp: number } {
  const db = new Database(file, { readonly: true });
  try {
    const n = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    return {
      requests: n("SELECT COUNT(*) AS n FROM requests"),
      rolledUp: n("SELECT SUM(requests) AS n FROM usage_hourly"),
    };
  } finally {
    db.close();
  }
}

describe("the journal mover as shipped (compiled to JavaScript, as in dist/)", () => {
  it("starts its worker from the compiled module beside it and moves a journal in", () => {
    // The three modules the mover is made of, compiled as the build compiles them, into a folder
    // inside the project so that better-sqlite3 resolves as it does from dist/.
    const out = mkdtempSync(path.resolve("node_modules/.bedrock-claude-test-"));
    try {
      for (const name of ["journal-mover", "journal-mover-thread", "ledger-rows"]) {
        const source = readFileSync(path.resolve(`src/usage/${name}.ts`), "utf8");
        const { outputText } = ts.transpileModule(source, {
          compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
          fileName: `${name}.ts`,
        });
        writeFileSync(path.join(out, `${name}.js`), outputText);
      }
      writeFileSync(path.join(out, "package.json"), '{ "type": "module" }');
      const { dir, file } = tempLedger();
      new SqliteLedger(file).close();
      const all = records(300);
      const journal = path.join(dir, "moved.jsonl");
      writeFileSync(journal, all.map((r) => `${JSON.stringify(rowValues(r))}\n`).join(""));
      const run = spawnSync(
        process.execPath,
        [
          "--input-type=module",
          "-e",
          `import { journalMover } from ${JSON.stringify(pathToFileURL(path.join(out, "journal-mover.js")).href)};
           const seq = journalMover.move(${JSON.stringify(file)}, { journal: ${JSON.stringify(journal)}, from: 0, to: ${statSync(journal).size}, last: true });
           console.log(journalMover.waitFor(seq));`,
        ],
        { encoding: "utf8" },
      );
      expect(run.stderr).toBe("");
      expect(run.stdout.trim()).toBe("done");
      expect(existsSync(journal)).toBe(false);
      expect(storedCounts(file)).toEqual({ requests: 300, rolledUp: 300 });
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
