/**
 * Fault injection: rules from `--faults`, the config file or `POST /_emulator/faults`, drawn with a
 * seeded generator so that a seeded run fails the same requests every time.
 */

import { globMatch } from "../util/glob.js";
import { seededRandom } from "../util/random.js";
import type { FaultRule, FaultSpec } from "./config.js";

export interface FaultTarget {
  /** The request's region (`anthropic` for the Anthropic API endpoint). */
  region: string;
  /** Every name the requested model goes by (path id, foundation id, Anthropic names). */
  modelNames: readonly string[];
  stream: boolean;
}

export interface FaultDecision {
  rule: FaultRule;
  /** Latency to add before answering. */
  latencyMs: number;
  /** The error to raise, or undefined for a latency-only rule. */
  error?: Exclude<FaultRule["error"], "none">;
  /** For streams: how many events to send before the error (0: before any). */
  afterEvents: number;
}

export class FaultInjector {
  private rules: FaultRule[] = [];
  private random: () => number;
  private seed: number;

  constructor(
    spec: FaultSpec | undefined,
    private readonly defaultSeed: number | undefined,
  ) {
    this.seed = spec?.seed ?? defaultSeed ?? Math.floor(Math.random() * 2 ** 31);
    this.random = seededRandom(this.seed);
    this.rules = spec?.rules ?? [];
  }

  /** Replaces the rules; a seed (from the spec, else the emulator's) restarts the draws. */
  set(spec: FaultSpec): void {
    this.rules = spec.rules;
    this.seed = spec.seed ?? this.defaultSeed ?? this.seed;
    this.random = seededRandom(this.seed);
  }

  clear(): void {
    this.rules = [];
  }

  current(): { seed: number; rules: FaultRule[] } {
    return { seed: this.seed, rules: this.rules };
  }

  /**
   * The first matching rule whose draw falls under its rate. Every matching rule draws once, in
   * order, so the sequence of draws depends only on the sequence of requests.
   */
  decide(target: FaultTarget): FaultDecision | undefined {
    for (const rule of this.rules) {
      if (rule.region !== undefined && rule.region !== target.region) continue;
      if (rule.model !== undefined && !target.modelNames.some((name) => globMatch(rule.model!, name)))
        continue;
      // A stream error only exists inside a stream.
      if (rule.error === "ModelStreamErrorException" && !target.stream) continue;
      const draw = this.random();
      if (draw >= rule.rate) continue;
      return {
        rule,
        latencyMs: rule.latencyMs ?? 0,
        error: rule.error === "none" ? undefined : rule.error,
        afterEvents: target.stream
          ? (rule.afterEvents ?? (rule.error === "ModelStreamErrorException" ? 1 : 0))
          : 0,
      };
    }
    return undefined;
  }
}

/** The message each injected exception carries, as Bedrock words it. */
export const FAULT_MESSAGES: Record<Exclude<FaultRule["error"], "none" | "ConnectionReset">, string> = {
  ThrottlingException: "Too many requests, please wait before trying again.",
  ServiceUnavailableException: "Bedrock is unable to process your request.",
  ModelNotReadyException:
    "Model is not ready to serve inference requests. The AWS SDK will automatically retry the operation up to 5 times. For information about configuring automatic retries, see Retry behavior in the AWS SDKs and Tools reference guide.",
  ModelTimeoutException: "Model has timed out in processing the request. Try your request again.",
  InternalServerException:
    "The system encountered an unexpected error during processing. Try your request again.",
  ModelStreamErrorException:
    "The system encountered an unexpected error during processing. Try your request again.",
};
