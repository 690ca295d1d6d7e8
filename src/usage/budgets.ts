/**
 * Budgets per tag or key and per model, daily or monthly (UTC), soft (warn) or hard (refuse
 * before calling upstream). Enforcement holds under concurrency: a request reserves its worst
 * case (input estimate plus max_tokens, at the model's highest price) when admitted, synchronously,
 * so N requests in flight can overshoot a hard budget by at most their reserved worst cases; the
 * reservation is replaced by the real cost when the ledger records the request.
 */
import type { ModelCatalog } from "../models/catalog.js";
import { findModel } from "../models/resolve.js";
import type { LedgerRequest, LedgerStore } from "./ledger.js";
import { costOf, type Price, type PriceBook } from "./prices.js";
import { NO_USAGE } from "./usage.js";

export interface Budget {
  /** A name for messages and reports; default from scope and period. */
  name?: string;
  /** Requests the budget covers; every field given must match. */
  scope?: { tag?: string; key?: string; model?: string };
  period: "day" | "month";
  limitUsd: number;
  /** `soft`: warn once per period when crossed; `hard`: refuse requests that could cross it. */
  mode: "soft" | "hard";
}

export interface BudgetRequest {
  tag: string | null;
  key: string | null;
  /** The model as requested (Anthropic name, alias or Bedrock id). */
  model: string;
  /** Input tokens estimate and max_tokens. */
  inputTokens: number;
  maxTokens: number;
}

/** A budget's state in its current period. */
export interface BudgetStatus {
  label: string;
  mode: string;
  limitUsd: number;
  spentUsd: number;
  reservedUsd: number;
  periodStart: string;
}

export class BudgetExceededError extends Error {
  override readonly name = "BudgetExceededError";
}

export interface BudgetReservation {
  /** Drops the reservation (the real cost arrives through `recorded`). */
  release(): void;
}

function periodStart(period: Budget["period"], now: Date): number {
  return period === "day"
    ? Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())
    : Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
}

function nextPeriod(period: Budget["period"], start: number): number {
  const d = new Date(start);
  return period === "day" ? start + 86_400_000 : Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

interface BudgetState {
  budget: Budget;
  label: string;
  start: number;
  spent: number;
  reserved: number;
  warned: boolean;
}

function money(usd: number): string {
  return `$${usd.toFixed(usd < 1 ? 4 : 2)}`;
}

export class BudgetTracker {
  private readonly states: BudgetState[];

  constructor(
    budgets: Budget[],
    private readonly deps: {
      store?: LedgerStore;
      prices: PriceBook;
      catalog: ModelCatalog;
      warn: (message: string) => void;
      now?: () => number;
    },
  ) {
    const now = new Date(this.now());
    this.states = budgets.map((budget) => {
      const scope = Object.entries(budget.scope ?? {})
        .map(([k, v]) => `${k} ${v}`)
        .join(", ");
      const label =
        budget.name ??
        `${budget.period === "day" ? "daily" : "monthly"} ${money(budget.limitUsd)}${scope ? ` for ${scope}` : ""}`;
      const start = periodStart(budget.period, now);
      return { budget, label, start, spent: this.spentSince(budget, start), reserved: 0, warned: false };
    });
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  /** What the ledger already holds for this budget's period (other processes and earlier runs). */
  private spentSince(budget: Budget, start: number): number {
    if (!this.deps.store) return 0;
    const { tag, key, model } = budget.scope ?? {};
    const [row] = this.deps.store.report({
      since: start,
      tag,
      key,
      model: model ? this.anthropicName(model) : undefined,
    });
    return row?.costUsd ?? 0;
  }

  private anthropicName(model: string): string {
    return findModel(this.deps.catalog, model)?.anthropicName ?? model;
  }

  private matches(budget: Budget, tag: string | null, key: string | null, model: string): boolean {
    const scope = budget.scope ?? {};
    if (scope.tag !== undefined && scope.tag !== tag) return false;
    if (scope.key !== undefined && scope.key !== key) return false;
    if (scope.model !== undefined && this.anthropicName(scope.model) !== this.anthropicName(model))
      return false;
    return true;
  }

  private roll(state: BudgetState): void {
    const now = this.now();
    if (now >= nextPeriod(state.budget.period, state.start)) {
      state.start = periodStart(state.budget.period, new Date(now));
      state.spent = this.spentSince(state.budget, state.start);
      state.warned = false;
    }
  }

  /** The most a request can cost: its input and all of max_tokens at the model's dearest price. */
  private worstCase(request: BudgetRequest): number | null {
    const name = this.anthropicName(request.model);
    const prices = (["regional", "global", "extendedAccess", "anthropic"] as const)
      .map((kind) => this.deps.prices.priceFor(name, kind))
      .filter((p): p is Price => p !== undefined);
    if (prices.length === 0) return null;
    return Math.max(
      ...prices.map(
        (p) =>
          costOf({ ...NO_USAGE, inputTokens: request.inputTokens, outputTokens: request.maxTokens }, p) ?? 0,
      ),
    );
  }

  /**
   * Admits a request (reserving its worst case on every matching budget) or throws
   * BudgetExceededError naming the budget. Synchronous: no other request can slip in between the
   * check and the reservation.
   */
  admit(request: BudgetRequest): BudgetReservation {
    const matching = this.states.filter((s) =>
      this.matches(s.budget, request.tag, request.key, request.model),
    );
    if (matching.length === 0) return { release: () => undefined };
    const worst = this.worstCase(request);
    for (const state of matching) {
      this.roll(state);
      if (state.budget.mode !== "hard") continue;
      if (worst === null) {
        throw new BudgetExceededError(
          `Budget ${state.label}: the model "${request.model}" has no known price, so this request cannot be held to a hard budget. Add its price in the config (prices).`,
        );
      }
      if (state.spent + state.reserved + worst > state.budget.limitUsd) {
        const resets = new Date(nextPeriod(state.budget.period, state.start)).toISOString();
        throw new BudgetExceededError(
          `Budget ${state.label} would be exceeded: spent ${money(state.spent)}, in flight ${money(state.reserved)}, this request up to ${money(worst)}. It resets at ${resets}.`,
        );
      }
    }
    const held = worst ?? 0;
    for (const state of matching) state.reserved += held;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        for (const state of matching) state.reserved = Math.max(0, state.reserved - held);
      },
    };
  }

  /** Counts a recorded request's real cost; warns once per period when a soft budget is crossed. */
  recorded(entry: LedgerRequest): void {
    const model = entry.anthropicName ?? entry.modelRequested;
    for (const state of this.states) {
      if (!this.matches(state.budget, entry.tag, entry.key, model)) continue;
      this.roll(state);
      if (entry.time < state.start) continue;
      state.spent += entry.costUsd ?? 0;
      if (state.budget.mode === "soft" && !state.warned && state.spent > state.budget.limitUsd) {
        state.warned = true;
        this.deps.warn(`bedrock-claude: budget ${state.label} exceeded: spent ${money(state.spent)}.`);
      }
    }
  }

  /** Each budget's state now, for reports and the gateway. */
  status(): BudgetStatus[] {
    return this.states.map((s) => {
      this.roll(s);
      return {
        label: s.label,
        mode: s.budget.mode,
        limitUsd: s.budget.limitUsd,
        spentUsd: s.spent,
        reservedUsd: s.reserved,
        periodStart: new Date(s.start).toISOString(),
      };
    });
  }
}
