/** Budgets: hard ones refuse before upstream and hold under concurrency; soft ones warn. */
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type Anthropic from "@anthropic-ai/sdk";
import { describe, expect, it } from "vitest";
import { type CreateClientOptions, createClient } from "../src/client.js";
import type { Budget } from "../src/usage/budgets.js";
import { SqliteLedger } from "../src/usage/sqlite-ledger.js";
import { TEST_CREDENTIALS, useEmulator } from "./helpers.js";

const emulator = useEmulator();

function ledgerFile(): string {
  return path.join(mkdtempSync(path.join(os.tmpdir(), "budgets-")), "ledger.db");
}

function client(file: string, budgets: Budget[], extra: Partial<CreateClientOptions> = {}): Anthropic {
  return createClient({
    region: "us-east-1",
    endpoint: emulator.current.url,
    credentials: TEST_CREDENTIALS,
    ledger: { path: file },
    tag: "app",
    budgets,
    ...extra,
  });
}

const ask = (c: Anthropic) =>
  c.messages.create({
    model: "claude-opus-4-7",
    max_tokens: 100,
    messages: [{ role: "user", content: "Write at length [[tokens=100]]" }],
  });

function spent(file: string): number {
  const store = new SqliteLedger(file);
  try {
    return store.report({ tag: "app" })[0]?.costUsd ?? 0;
  } finally {
    store.close();
  }
}

describe("budgets", () => {
  it("a hard budget holds under 50 concurrent requests: refusals are 402 before any upstream call", async () => {
    const file = ledgerFile();
    // Each call costs about $0.0026 (Opus 4.7 regional); its worst case is reserved up front.
    const limitUsd = 0.05;
    const c = client(file, [{ period: "day", limitUsd, mode: "hard", scope: { tag: "app" } }]);
    emulator.current.resetJournal();
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => ask(c)));
    const ok = results.filter((r) => r.status === "fulfilled").length;
    const refused = results.filter((r) => r.status === "rejected");
    expect(ok).toBeGreaterThan(5);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      const error = (r as PromiseRejectedResult).reason as { status?: number; message: string };
      expect(error.status).toBe(402);
      expect(error.message).toContain("would be exceeded");
    }
    // Only admitted requests reached upstream.
    expect(emulator.current.requests().filter((r) => r.operation === "InvokeModel")).toHaveLength(ok);
    // Reservations of the worst case keep the real spend under the limit.
    expect(spent(file)).toBeLessThanOrEqual(limitUsd);
  });

  it("a new client starts from what the ledger already spent this period", async () => {
    const file = ledgerFile();
    const budget: Budget = { period: "month", limitUsd: 0.007, mode: "hard", scope: { tag: "app" } };
    const first = client(file, [budget]);
    await ask(first);
    await ask(first);
    const before = spent(file);
    expect(before).toBeGreaterThan(0.004);
    const second = client(file, [budget]);
    await expect(ask(second)).rejects.toMatchObject({ status: 402 });
  });

  it("a soft budget warns once and lets requests through", async () => {
    const warnings: string[] = [];
    const c = client(ledgerFile(), [{ period: "day", limitUsd: 0.001, mode: "soft" }], {
      warn: (m) => warnings.push(m),
    });
    for (let i = 0; i < 3; i++) await ask(c);
    expect(warnings.filter((w) => w.includes("budget"))).toHaveLength(1);
  });

  it("a budget scoped to another tag or model does not apply", async () => {
    const c = client(ledgerFile(), [
      { period: "day", limitUsd: 0.000001, mode: "hard", scope: { tag: "other" } },
      { period: "day", limitUsd: 0.000001, mode: "hard", scope: { model: "claude-haiku-4-5" } },
    ]);
    await expect(ask(c)).resolves.toMatchObject({ type: "message" });
  });

  it("a hard budget refuses a model without a known price, saying how to fix it", async () => {
    emulator.current.resetJournal();
    const c = client(ledgerFile(), [{ period: "day", limitUsd: 100, mode: "hard" }]);
    // An ARN the catalog cannot name has no price: a hard budget cannot bound it.
    const arn = "arn:aws:bedrock:us-east-1:000000000000:inference-profile/us.anthropic.claude-opus-4-7";
    await expect(
      c.messages.create({ model: arn, max_tokens: 10, messages: [{ role: "user", content: "hi" }] }),
    ).rejects.toMatchObject({ status: 402, message: expect.stringContaining("no known price") });
    expect(emulator.current.requests()).toHaveLength(0);
  });
});
