/**
 * Budgets of virtual keys beside the configured ones. Each key with a budget gets a hard budget
 * scoped to its name, created when the key is first seen (its spend so far in the period read
 * from the ledger); the transport sees one tracker, so reservations for keys and for the config's
 * budgets are taken and released together, under the same concurrency rule (in-flight requests
 * reserve their worst case).
 */
import type { ModelCatalog } from "../models/catalog.js";
import { type Budget, type BudgetRequest, type BudgetReservation, BudgetTracker } from "../usage/budgets.js";
import type { LedgerRequest, LedgerStore } from "../usage/ledger.js";
import type { PriceBook } from "../usage/prices.js";
import type { VirtualKey } from "./keys.js";

interface Deps {
  store?: LedgerStore;
  prices: PriceBook;
  catalog: ModelCatalog;
  warn: (message: string) => void;
  now?: () => number;
}

type BudgetStatus = ReturnType<BudgetTracker["status"]>[number];

export class KeyBudgets extends BudgetTracker {
  private readonly perKey = new Map<string, { signature: string; tracker: BudgetTracker }>();

  constructor(
    configured: Budget[],
    private readonly keyDeps: Deps,
  ) {
    super(configured, keyDeps);
  }

  /** Makes sure a key's budget is tracked (call when the key authenticates). */
  ensure(key: VirtualKey): void {
    if (!key.budget) return;
    const signature = `${key.id} ${key.budget.limitUsd}/${key.budget.period}`;
    if (this.perKey.get(key.name)?.signature === signature) return;
    const budget: Budget = {
      name: `of key "${key.name}" (${key.budget.limitUsd} USD per ${key.budget.period})`,
      scope: { key: key.name },
      period: key.budget.period,
      limitUsd: key.budget.limitUsd,
      mode: "hard",
    };
    this.perKey.set(key.name, { signature, tracker: new BudgetTracker([budget], this.keyDeps) });
  }

  override admit(request: BudgetRequest): BudgetReservation {
    const forKey = request.key ? this.perKey.get(request.key)?.tracker.admit(request) : undefined;
    let configured: BudgetReservation;
    try {
      configured = super.admit(request);
    } catch (error) {
      forKey?.release();
      throw error;
    }
    return {
      release: () => {
        forKey?.release();
        configured.release();
      },
    };
  }

  override recorded(entry: LedgerRequest): void {
    super.recorded(entry);
    if (entry.key) this.perKey.get(entry.key)?.tracker.recorded(entry);
  }

  override status(): BudgetStatus[] {
    return [...super.status(), ...[...this.perKey.values()].flatMap((k) => k.tracker.status())];
  }
}
