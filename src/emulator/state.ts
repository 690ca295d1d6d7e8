/** Everything one running emulator holds: configuration, catalog, rules, and what it has seen. */
import { createHash } from "node:crypto";
import { type ModelCatalog, shippedCatalog } from "../models/catalog.js";
import type { EmulatorConfig } from "./config.js";
import { FaultInjector } from "./faults.js";
import { IdentityStore } from "./identities.js";
import { Journal } from "./journal.js";
import { PromptCache } from "./prompt-cache.js";
import { QuotaTracker } from "./quotas.js";
import { type BetaRules, type EmulatorRules, shippedRules } from "./rules.js";

export interface EmulatorState {
  config: EmulatorConfig;
  catalog: ModelCatalog;
  rules: EmulatorRules;
  betas: BetaRules;
  identities: IdentityStore;
  faults: FaultInjector;
  quotas: QuotaTracker;
  journal: Journal;
  cache: PromptCache;
  now: () => number;
  /** A fresh id: deterministic in a seeded run (a counter hashed with the seed), unique always. */
  nextId: (prefix: string, length: number) => string;
  /** A request id in the UUID form AWS uses. */
  nextRequestId: () => string;
}

export function createState(config: EmulatorConfig, now: () => number = Date.now): EmulatorState {
  const { rules, betas } = shippedRules();
  const seed = config.seed ?? Math.floor(Math.random() * 2 ** 31);
  let counter = 0;
  const hashed = () => createHash("sha256").update(`${seed}:${counter++}`).digest();
  const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  return {
    config,
    catalog: shippedCatalog(),
    rules,
    betas,
    identities: new IdentityStore(config),
    faults: new FaultInjector(config.faults, config.seed),
    quotas: new QuotaTracker(config.quotas, now),
    journal: new Journal(config.requestLogSize),
    cache: new PromptCache(now),
    now,
    nextId(prefix, length) {
      const bytes = hashed();
      let id = prefix;
      for (let i = 0; i < length; i++) id += BASE62[bytes[i % bytes.length]! % 62];
      return id;
    },
    nextRequestId() {
      const hex = hashed().toString("hex");
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
    },
  };
}
