import { describe, expect, it } from "vitest";
import { shippedCatalog } from "../models/catalog.js";
import { BudgetExceededError, BudgetTracker } from "./budgets.js";
import type { LedgerRequest } from "./ledger.js";
import { PriceBook, shippedPrices } from "./prices.js";

const request = { tag: "app", key: null, model: "claude-sonnet-4-6", inputTokens: 1000, maxTokens: 1000 };

function tracker(now: () => number, limitUsd: number, period: "day" | "month" = "day") {
  return new BudgetTracker([{ period, limitUsd, mode: "hard", scope: { tag: "app" } }], {
    prices: new PriceBook(shippedPrices()),
    catalog: shippedCatalog(),
    warn: () => undefined,
    now,
  });
}

function recorded(time: number, costUsd: number): LedgerRequest {
  return {
    time,
    tag: "app",
    key: null,
    anthropicName: "claude-sonnet-4-6",
    modelRequested: "claude-sonnet-4-6",
    costUsd,
  } as LedgerRequest;
}

describe("BudgetTracker", () => {
  // Sonnet 4.6's dearest price (regional $3.30 / $16.50 per million): 1000 in + 1000 out = $0.0198.
  const worst = (1000 * 3.3 + 1000 * 16.5) / 1e6;

  it("reserves the worst case synchronously and refuses what would cross the limit", () => {
    const t = tracker(() => Date.UTC(2026, 10, 25, 12), worst * 2.5);
    const a = t.admit(request);
    t.admit(request);
    expect(() => t.admit(request)).toThrow(BudgetExceededError);
    a.release();
    expect(() => t.admit(request)).not.toThrow();
    expect(t.status()[0]!.reservedUsd).toBeCloseTo(worst * 2, 9);
  });

  it("counts recorded costs in place of reservations, and starts over the next UTC day", () => {
    let now = Date.UTC(2026, 10, 25, 23, 59);
    const t = tracker(() => now, 0.03);
    const r = t.admit(request);
    r.release();
    t.recorded(recorded(now, 0.025));
    expect(t.status()[0]!.spentUsd).toBeCloseTo(0.025, 9);
    expect(() => t.admit(request)).toThrow(/resets at 2026-11-26T00:00:00.000Z/);
    now = Date.UTC(2026, 10, 26, 0, 1);
    expect(() => t.admit(request)).not.toThrow();
    expect(t.status()[0]!.spentUsd).toBe(0);
  });

  it("keeps a monthly budget across days and resets it on the first of the month", () => {
    let now = Date.UTC(2026, 10, 3);
    const t = tracker(() => now, 0.03, "month");
    t.recorded(recorded(now, 0.02));
    now = Date.UTC(2026, 10, 20);
    expect(() => t.admit(request)).toThrow(BudgetExceededError);
    now = Date.UTC(2026, 11, 1, 0, 0, 1);
    expect(() => t.admit(request)).not.toThrow();
  });
});
