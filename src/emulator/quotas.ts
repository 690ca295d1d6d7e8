/**
 * Requests- and tokens-per-minute quotas per region and model, over a sliding minute, answered
 * with ThrottlingException as Bedrock words it. Tokens are counted at admission as input tokens
 * plus `max_tokens`, the reservation Bedrock's quota system makes before the answer is known.
 */
import { globMatch } from "../util/glob.js";
import type { QuotaConfig } from "./config.js";

const WINDOW_MS = 60_000;

export type QuotaVerdict = { ok: true } | { ok: false; kind: "requests" | "tokens" };

interface Window {
  times: number[];
  tokens: number[];
}

export class QuotaTracker {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly quotas: readonly QuotaConfig[],
    private readonly now: () => number,
  ) {}

  /** Admits a request (recording it) or says which quota it exceeds. */
  admit(region: string, modelNames: readonly string[], tokens: number): QuotaVerdict {
    const now = this.now();
    const applicable = this.quotas
      .map((quota, i) => ({ quota, i }))
      .filter(
        ({ quota }) =>
          (quota.region === undefined || quota.region === region) &&
          (quota.model === undefined || modelNames.some((name) => globMatch(quota.model!, name))),
      );
    const windows = applicable.map(({ quota, i }) => {
      const key = `${i}|${region}|${modelNames[0]}`;
      let window = this.windows.get(key);
      if (!window) {
        window = { times: [], tokens: [] };
        this.windows.set(key, window);
      }
      while (window.times.length > 0 && window.times[0]! <= now - WINDOW_MS) {
        window.times.shift();
        window.tokens.shift();
      }
      return { quota, window };
    });
    for (const { quota, window } of windows) {
      if (quota.rpm !== undefined && window.times.length >= quota.rpm) return { ok: false, kind: "requests" };
      const used = window.tokens.reduce((a, b) => a + b, 0);
      if (quota.tpm !== undefined && used + tokens > quota.tpm) return { ok: false, kind: "tokens" };
    }
    for (const { window } of windows) {
      window.times.push(now);
      window.tokens.push(tokens);
    }
    return { ok: true };
  }
}

export const THROTTLE_MESSAGES = {
  requests: "Too many requests, please wait before trying again.",
  tokens: "Too many tokens, please wait before trying again.",
} as const;
