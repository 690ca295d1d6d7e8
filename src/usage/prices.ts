/**
 * Prices per model and provider (`data/prices.json`, each entry with its source and date; users
 * add or override prices in config). On Bedrock the id a call actually used decides the price:
 * `global.` profiles at list price, geographic profiles and in-region ids at the regional price
 * (about 10% more from Sonnet 4.5 on), and legacy models in extended access at theirs. A model
 * without a price costs `null`: shown as unknown, never as a silent zero.
 */

import type { ModelEntry } from "../models/catalog.js";
import { readDataFile } from "../util/data-file.js";
import type { Usage } from "./usage.js";

export interface Price {
  input: number;
  output: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  cacheRead: number;
  batchInput?: number;
  batchOutput?: number;
}

export interface ModelPrices {
  anthropicName: string;
  anthropic?: Price;
  bedrock?: { global?: Price; regional?: Price; extendedAccess?: Price };
}

export interface PriceData {
  updated: string;
  models: ModelPrices[];
}

/** Which of a model's Bedrock prices a call pays. */
export type EndpointKind = "anthropic" | "global" | "regional" | "extendedAccess";

const PER_MILLION = 1_000_000;

export function endpointKind(
  provider: string,
  upstreamId: string | null,
  model: ModelEntry | undefined,
  at: Date,
): EndpointKind {
  if (provider === "anthropic") return "anthropic";
  const extendedFrom = model?.lifecycle.publicExtendedAccessFrom;
  if (extendedFrom && Date.parse(extendedFrom) <= at.getTime()) return "extendedAccess";
  const id = upstreamId ?? "";
  // `global.anthropic…` or an inference-profile ARN ending `/global.anthropic…`.
  return /(^|\/)global\./.test(id) ? "global" : "regional";
}

export class PriceBook {
  private readonly byName = new Map<string, ModelPrices>();

  constructor(data: PriceData, overrides: ModelPrices[] = []) {
    for (const entry of [...data.models, ...overrides]) {
      const existing = this.byName.get(entry.anthropicName);
      this.byName.set(
        entry.anthropicName,
        existing
          ? {
              anthropicName: entry.anthropicName,
              anthropic: entry.anthropic ?? existing.anthropic,
              bedrock: { ...existing.bedrock, ...entry.bedrock },
            }
          : entry,
      );
    }
  }

  /** The price a call pays, or undefined when none is known. */
  priceFor(anthropicName: string | null | undefined, kind: EndpointKind): Price | undefined {
    if (!anthropicName) return undefined;
    const prices = this.byName.get(anthropicName);
    if (!prices) return undefined;
    if (kind === "anthropic") return prices.anthropic;
    const bedrock = prices.bedrock;
    if (kind === "extendedAccess") return bedrock?.extendedAccess ?? bedrock?.regional ?? bedrock?.global;
    return kind === "global"
      ? (bedrock?.global ?? bedrock?.regional)
      : (bedrock?.regional ?? bedrock?.global);
  }
}

/** USD for `usage` at `price`; cache writes at their TTL's rate. */
export function costOf(usage: Usage, price: Price | undefined): number | null {
  if (!price) return null;
  const write5m = usage.cacheWriteTokens - usage.cacheWrite1hTokens;
  return (
    (usage.inputTokens * price.input +
      usage.outputTokens * price.output +
      write5m * price.cacheWrite5m +
      usage.cacheWrite1hTokens * price.cacheWrite1h +
      usage.cacheReadTokens * price.cacheRead) /
    PER_MILLION
  );
}

let shipped: PriceData | undefined;

export function shippedPrices(): PriceData {
  shipped ??= readDataFile<PriceData>("prices.json");
  return shipped;
}
