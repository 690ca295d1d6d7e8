/**
 * The compatibility policy: Bedrock refuses some request parts the Anthropic API accepts (beta
 * flags, body fields, `temperature` with `top_p` on some models). Known refusals come from data
 * (`data/bedrock-betas.json`, `data/bedrock.json`); the policy drops them with a warning (`drop`,
 * the default, which keeps tools such as Claude Code working as they add features) or refuses the
 * request before calling upstream with a clear error (`strict`). Refusals Bedrock still answers with
 * are learned: the part is dropped, the request retried once, and the drop remembered for that
 * target and model.
 */
import { readDataFile } from "../util/data-file.js";
import { globMatch } from "../util/glob.js";

export type CompatMode = "drop" | "strict";

export interface CompatRules {
  deniedBetas: ReadonlySet<string>;
  acceptedBetas: ReadonlySet<string>;
  invokeFields: ReadonlySet<string>;
  exclusiveSamplingModels: readonly string[];
}

export class CompatError extends Error {
  override readonly name = "CompatError";
}

let shipped: CompatRules | undefined;

export function shippedCompatRules(): CompatRules {
  if (!shipped) {
    const betas = readDataFile<{ denied: { flag: string }[]; accepted: { flags: string[] } }>(
      "bedrock-betas.json",
    );
    const bedrock = readDataFile<{
      invokeBodyFields: { accepted: string[] };
      exclusiveSamplingModels: { patterns: string[] };
    }>("bedrock.json");
    shipped = {
      deniedBetas: new Set(betas.denied.map((d) => d.flag)),
      acceptedBetas: new Set(betas.accepted.flags),
      invokeFields: new Set([...bedrock.invokeBodyFields.accepted, "model", "stream"]),
      exclusiveSamplingModels: bedrock.exclusiveSamplingModels.patterns,
    };
  }
  return shipped;
}

/**
 * Deletes a dotted path (`tools.3.custom.defer_loading`; `*` for every element) from a body.
 * Returns the path as it exists in the body (validation paths name union variants, like `custom`,
 * that are not keys: those are skipped), or undefined when nothing was there.
 */
function deletePath(target: unknown, path: string[]): string[] | undefined {
  if (path.length === 0 || target === null || typeof target !== "object") return undefined;
  const [head, ...rest] = path as [string, ...string[]];
  const container = target as Record<string, unknown>;
  if (rest.length === 0) {
    if (!(head in container)) return undefined;
    delete container[head];
    return [head];
  }
  if (head === "*" && Array.isArray(target)) {
    const found = target.map((item) => deletePath(item, rest)).find((p) => p !== undefined);
    return found ? ["*", ...found] : undefined;
  }
  if (head in container) {
    const found = deletePath(container[head], rest);
    return found ? [head, ...found] : undefined;
  }
  return deletePath(target, rest);
}

export interface AdaptContext {
  /** `invoke` (InvokeModel body) or `messages` (native and Mantle endpoints). */
  shape: "invoke" | "messages";
  /** Target and model the remembered drops belong to. */
  key: string;
  /** Anthropic name of the model, for per-model rules. */
  modelName?: string;
}

export class CompatPolicy {
  private readonly learnedBetas = new Map<string, Set<string>>();
  private readonly learnedFields = new Map<string, Set<string>>();
  private readonly warned = new Set<string>();

  constructor(
    private readonly rules: CompatRules,
    readonly mode: CompatMode,
    private readonly warn: (message: string) => void,
  ) {}

  private once(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.warn(message);
  }

  private refuseOrDrop(what: string, key: string): void {
    if (this.mode === "strict") {
      throw new CompatError(`${what} is not accepted by Bedrock; remove it, or set compatibility to "drop".`);
    }
    this.once(`${key}|${what}`, `bedrock-claude: dropped ${what}, which Bedrock refuses (${key}).`);
  }

  /** The warning for a learned drop shares its key with later drops of the same part: one warning. */
  private learned(what: string, key: string): void {
    this.once(`${key}|${what}`, `bedrock-claude: Bedrock refused ${what}; dropped it (${key}).`);
  }

  /** Adapts `body` (with its betas) in place for a Bedrock target. */
  adapt(body: Record<string, unknown>, betas: string[], ctx: AdaptContext): string[] {
    const learnedBetas = this.learnedBetas.get(ctx.key);
    const kept = betas.filter((flag) => {
      if (this.rules.deniedBetas.has(flag) || learnedBetas?.has(flag)) {
        this.refuseOrDrop(`beta flag ${flag}`, ctx.key);
        return false;
      }
      return true;
    });
    // InvokeModel's schema is narrower than the Anthropic API's; the native endpoints take the
    // Anthropic body as is, so only learned refusals apply there.
    for (const field of ctx.shape === "invoke" ? Object.keys(body) : []) {
      if (!this.rules.invokeFields.has(field)) {
        this.refuseOrDrop(`body field ${field}`, ctx.key);
        delete body[field];
      }
    }
    for (const path of this.learnedFields.get(ctx.key) ?? []) {
      if (deletePath(body, path.split("."))) this.refuseOrDrop(`body field ${path}`, ctx.key);
    }
    if (
      body.temperature !== undefined &&
      body.top_p !== undefined &&
      ctx.modelName &&
      this.rules.exclusiveSamplingModels.some((p) => globMatch(p, ctx.modelName!))
    ) {
      this.refuseOrDrop("top_p (given with temperature)", ctx.key);
      delete body.top_p;
    }
    return kept;
  }

  /**
   * Learns from a 400 that Bedrock still answered. Returns the adapted body and betas to retry
   * with, or undefined when nothing can be dropped (or the policy is strict).
   */
  learn(
    message: string,
    body: Record<string, unknown>,
    betas: string[],
    ctx: AdaptContext,
  ): { body: Record<string, unknown>; betas: string[] } | undefined {
    if (this.mode === "strict") return undefined;
    if (/invalid beta flag/i.test(message)) {
      // Bedrock never names the flag: keep the flags known to be accepted, drop the rest.
      const dropped = betas.filter((flag) => !this.rules.acceptedBetas.has(flag));
      if (dropped.length === 0) return undefined;
      const learned = this.learnedBetas.get(ctx.key) ?? new Set<string>();
      for (const flag of dropped) {
        learned.add(flag);
        this.learned(`beta flag ${flag}`, ctx.key);
      }
      this.learnedBetas.set(ctx.key, learned);
      return { body, betas: betas.filter((flag) => this.rules.acceptedBetas.has(flag)) };
    }
    const extra = /^([\w.]+): Extra inputs are not permitted/.exec(message);
    if (extra) {
      const copy = structuredClone(body);
      const deleted = deletePath(copy, extra[1]!.split("."));
      if (!deleted) return undefined;
      const pattern = deleted.map((part) => (/^\d+$/.test(part) ? "*" : part)).join(".");
      const learned = this.learnedFields.get(ctx.key) ?? new Set<string>();
      learned.add(pattern);
      this.learnedFields.set(ctx.key, learned);
      this.learned(`body field ${pattern}`, ctx.key);
      return { body: copy, betas };
    }
    return undefined;
  }
}
