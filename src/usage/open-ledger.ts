/**
 * Which ledger a client writes to: the `ledger` option, else `BEDROCK_CLAUDE_LEDGER` (a path, or
 * `off`), else `$BEDROCK_CLAUDE_HOME/ledger.db`. One store per file per process.
 */
import path from "node:path";
import { bedrockClaudeHome } from "../config/home.js";
import type { LedgerStore } from "./ledger.js";
import { SqliteLedger } from "./sqlite-ledger.js";

export type LedgerOption = false | { path?: string; store?: LedgerStore };

const open = new Map<string, SqliteLedger>();

export function defaultLedgerPath(env = process.env): string {
  return path.join(bedrockClaudeHome(env), "ledger.db");
}

/** The store to record into, or undefined when the ledger is off. */
export function openLedger(option: LedgerOption | undefined, env = process.env): LedgerStore | undefined {
  if (option === false) return undefined;
  if (option?.store) return option.store;
  const fromEnv = env.BEDROCK_CLAUDE_LEDGER;
  if (!option?.path && fromEnv && ["off", "false", "0"].includes(fromEnv.toLowerCase())) return undefined;
  const file = path.resolve(option?.path ?? fromEnv ?? defaultLedgerPath(env));
  let store = open.get(file);
  if (!store) {
    store = new SqliteLedger(file);
    open.set(file, store);
  }
  return store;
}
