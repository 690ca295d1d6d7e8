/**
 * Bedrock behaviour that changes over time, read from `data/bedrock.json` and
 * `data/bedrock-betas.json` (each rule there carries its source and date).
 */
import { readDataFile } from "../util/data-file.js";

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

let cached: { rules: EmulatorRules; betas: BetaRules } | undefined;

export function shippedRules(): { rules: EmulatorRules; betas: BetaRules } {
  cached ??= {
    rules: readDataFile<EmulatorRules>("bedrock.json"),
    betas: readDataFile<BetaRules>("bedrock-betas.json"),
  };
  return cached;
}
