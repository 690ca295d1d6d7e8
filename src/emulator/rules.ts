/**
 * Bedrock behaviour that changes over time, read from `data/bedrock.json` and
 * `data/bedrock-betas.json` (each rule there carries its source and date).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface EmulatorRules {
  anthropicVersions: { bedrock: string[]; datedPattern: string; datedMinimum: string };
  invokeModelBodyLimitBytes: number;
  invokeBodyFields: { accepted: string[]; schemaRejected: string[] };
  messagesApiFields: { accepted: string[] };
  exclusiveSamplingModels: { patterns: string[]; message: string };
  minCacheableTokens: { rules: { pattern: string; tokens: number }[] };
  endOfLife: { message: string };
}

export interface BetaRules {
  denied: { flag: string; reason: string }[];
  flagPattern: string;
}

function readData<T>(name: string): T {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`../../data/${name}`, import.meta.url)), "utf8")) as T;
}

let cached: { rules: EmulatorRules; betas: BetaRules } | undefined;

export function shippedRules(): { rules: EmulatorRules; betas: BetaRules } {
  cached ??= {
    rules: readData<EmulatorRules>("bedrock.json"),
    betas: readData<BetaRules>("bedrock-betas.json"),
  };
  return cached;
}
