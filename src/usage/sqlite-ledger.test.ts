import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../util/random.js";
import type { GroupKey, LedgerRequest } from "./ledger.js";
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
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), "ledger-")), "ledger.db");
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
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), "ledger-")), "ledger.db");
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
});
