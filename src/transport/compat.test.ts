/**
 * The compatibility policy with the shipped rules (`data/bedrock-betas.json`, `data/bedrock.json`):
 * what it drops and warns about, what it refuses in strict mode, and what it learns from Bedrock's
 * refusals. Then once end to end through `createClient()` against an emulator that refuses a flag
 * the shipped deny list does not know.
 */
import { describe, expect, it } from "vitest";
import { useEmulator } from "../../test/helpers.js";
import { createClient } from "../client.js";
import { shippedCatalog } from "../models/catalog.js";
import { globMatch } from "../util/glob.js";
import { type AdaptContext, CompatError, CompatPolicy, shippedCompatRules } from "./compat.js";

const rules = shippedCompatRules();
const [DENIED_A, DENIED_B] = [...rules.deniedBetas] as [string, string];
const [ACCEPTED_A, ACCEPTED_B] = [...rules.acceptedBetas] as [string, string];
/** A well-formed flag that neither shipped list knows. */
const UNKNOWN_FLAG = "made-up-flag-2026-01-01";

const exclusive = (name: string) => rules.exclusiveSamplingModels.some((p) => globMatch(p, name));
const EXCLUSIVE_MODEL = shippedCatalog().models.find((m) => exclusive(m.anthropicName))!.anthropicName;
const PERMISSIVE_MODEL = shippedCatalog().models.find((m) => !exclusive(m.anthropicName))!.anthropicName;

const INVOKE: AdaptContext = {
  shape: "invoke",
  key: "bedrock us-east-1 model-a",
  modelName: EXCLUSIVE_MODEL,
};
const OTHER_TARGET: AdaptContext = { ...INVOKE, key: "bedrock eu-west-1 model-a" };
const MESSAGES: AdaptContext = { shape: "messages", key: "bedrock us-east-1 model-a (messages)" };

function policy(mode: "drop" | "strict" = "drop"): { policy: CompatPolicy; warnings: string[] } {
  const warnings: string[] = [];
  return { policy: new CompatPolicy(rules, mode, (m) => warnings.push(m)), warnings };
}

function body(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    anthropic_version: "bedrock-2023-05-31",
    max_tokens: 64,
    messages: [{ role: "user", content: "Hello" }],
    ...extra,
  };
}

function tools(count: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `tool_${i}`,
    description: `Tool ${i}`,
    input_schema: { type: "object", properties: {} },
  }));
}

describe("the shipped rules these tests use", () => {
  it("deny and accept distinct flags, and list some models for exclusive sampling but not all", () => {
    expect(rules.deniedBetas.size).toBeGreaterThanOrEqual(2);
    expect(rules.acceptedBetas.size).toBeGreaterThanOrEqual(2);
    for (const flag of rules.deniedBetas) expect(rules.acceptedBetas.has(flag)).toBe(false);
    expect(rules.deniedBetas.has(UNKNOWN_FLAG) || rules.acceptedBetas.has(UNKNOWN_FLAG)).toBe(false);
    expect(EXCLUSIVE_MODEL).toBeDefined();
    expect(PERMISSIVE_MODEL).toBeDefined();
  });
});

describe("adapt, drop mode", () => {
  it("drops denied beta flags and keeps the others", () => {
    const { policy: p, warnings } = policy();
    const kept = p.adapt(body(), [ACCEPTED_A, DENIED_A, UNKNOWN_FLAG, DENIED_B], INVOKE);
    expect(kept).toEqual([ACCEPTED_A, UNKNOWN_FLAG]);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain(DENIED_A);
    expect(warnings[1]).toContain(DENIED_B);
  });

  it("warns once per flag and target, not on every request", () => {
    const { policy: p, warnings } = policy();
    for (let i = 0; i < 3; i++) expect(p.adapt(body(), [DENIED_A], INVOKE)).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(DENIED_A);
    expect(warnings[0]).toContain(INVOKE.key);
    // Another target gets its own warning, once.
    p.adapt(body(), [DENIED_A], OTHER_TARGET);
    p.adapt(body(), [DENIED_A], OTHER_TARGET);
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toContain(OTHER_TARGET.key);
  });

  it("drops InvokeModel body fields Bedrock does not know, with a warning each", () => {
    const { policy: p, warnings } = policy();
    const b = body({ user_profile_id: "u-1", speculative_field: true, temperature: 0.5 });
    p.adapt(b, [], INVOKE);
    expect(b).toEqual(body({ temperature: 0.5 }));
    expect(warnings).toHaveLength(2);
    expect(warnings.some((w) => w.includes("user_profile_id"))).toBe(true);
    expect(warnings.some((w) => w.includes("speculative_field"))).toBe(true);
  });

  it("keeps every InvokeModel field the rules accept", () => {
    const { policy: p, warnings } = policy();
    const fields = Object.fromEntries([...rules.invokeFields].map((f) => [f, f === "top_p" ? undefined : 1]));
    const b = { ...fields };
    p.adapt(b, [], { ...INVOKE, modelName: PERMISSIVE_MODEL });
    expect(b).toEqual(fields);
    expect(warnings).toEqual([]);
  });

  it("leaves unknown top-level fields alone on the native Messages endpoints", () => {
    const { policy: p, warnings } = policy();
    const b = body({ model: "m", stream: true, user_profile_id: "u-1" });
    p.adapt(b, [], MESSAGES);
    expect(b).toEqual(body({ model: "m", stream: true, user_profile_id: "u-1" }));
    expect(warnings).toEqual([]);
  });

  it("drops top_p when temperature is also given on a model in the exclusive list", () => {
    const { policy: p, warnings } = policy();
    const b = body({ temperature: 0.7, top_p: 0.9 });
    p.adapt(b, [], { ...INVOKE, modelName: EXCLUSIVE_MODEL });
    expect(b).toEqual(body({ temperature: 0.7 }));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("top_p");
  });

  it("keeps temperature and top_p together on a model outside the exclusive list", () => {
    const { policy: p, warnings } = policy();
    const b = body({ temperature: 0.7, top_p: 0.9 });
    p.adapt(b, [], { ...INVOKE, modelName: PERMISSIVE_MODEL });
    expect(b).toEqual(body({ temperature: 0.7, top_p: 0.9 }));
    expect(warnings).toEqual([]);
  });

  it("keeps top_p alone on a model in the exclusive list", () => {
    const { policy: p } = policy();
    const b = body({ top_p: 0.9 });
    p.adapt(b, [], INVOKE);
    expect(b).toEqual(body({ top_p: 0.9 }));
  });
});

describe("adapt, strict mode", () => {
  it("throws CompatError for a denied beta flag, naming it", () => {
    const { policy: p, warnings } = policy("strict");
    expect(() => p.adapt(body(), [ACCEPTED_A, DENIED_A], INVOKE)).toThrow(CompatError);
    expect(() => p.adapt(body(), [DENIED_A], INVOKE)).toThrow(DENIED_A);
    expect(warnings).toEqual([]);
  });

  it("throws CompatError for an unknown InvokeModel field", () => {
    const { policy: p } = policy("strict");
    expect(() => p.adapt(body({ speculative_field: 1 }), [], INVOKE)).toThrow(/speculative_field/);
  });

  it("throws CompatError for temperature with top_p on an exclusive model", () => {
    const { policy: p } = policy("strict");
    expect(() => p.adapt(body({ temperature: 1, top_p: 0.5 }), [], INVOKE)).toThrow(CompatError);
  });

  it("lets a clean request through untouched", () => {
    const { policy: p } = policy("strict");
    const b = body({ temperature: 1 });
    expect(p.adapt(b, [ACCEPTED_A], INVOKE)).toEqual([ACCEPTED_A]);
    expect(b).toEqual(body({ temperature: 1 }));
  });

  it("learns nothing: learn() returns undefined", () => {
    const { policy: p } = policy("strict");
    expect(p.learn("invalid beta flag", body(), [UNKNOWN_FLAG], INVOKE)).toBeUndefined();
  });
});

describe("learn: invalid beta flag", () => {
  it("keeps only the flags known to be accepted, and says which it dropped", () => {
    const { policy: p, warnings } = policy();
    const b = body();
    const retry = p.learn("invalid beta flag", b, [ACCEPTED_A, UNKNOWN_FLAG, ACCEPTED_B], INVOKE);
    expect(retry).toEqual({ body: b, betas: [ACCEPTED_A, ACCEPTED_B] });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(UNKNOWN_FLAG);
  });

  it("recognises Bedrock's wrapped wording", () => {
    const { policy: p } = policy();
    const retry = p.learn(
      "The model returned the following errors: invalid beta flag",
      body(),
      [UNKNOWN_FLAG],
      INVOKE,
    );
    expect(retry?.betas).toEqual([]);
  });

  it("remembers the drop for the next adapt() of the same target, not for others", () => {
    const { policy: p } = policy();
    p.learn("invalid beta flag", body(), [ACCEPTED_A, UNKNOWN_FLAG], INVOKE);
    expect(p.adapt(body(), [UNKNOWN_FLAG, ACCEPTED_A], INVOKE)).toEqual([ACCEPTED_A]);
    expect(p.adapt(body(), [UNKNOWN_FLAG, ACCEPTED_A], OTHER_TARGET)).toEqual([UNKNOWN_FLAG, ACCEPTED_A]);
  });

  it("does not warn again about a learned flag on later requests", () => {
    const { policy: p, warnings } = policy();
    p.learn("invalid beta flag", body(), [UNKNOWN_FLAG], INVOKE);
    p.adapt(body(), [UNKNOWN_FLAG], INVOKE);
    p.adapt(body(), [UNKNOWN_FLAG], INVOKE);
    expect(warnings.filter((w) => w.includes(UNKNOWN_FLAG))).toHaveLength(1);
  });

  it("returns undefined when every flag is known to be accepted", () => {
    const { policy: p, warnings } = policy();
    expect(p.learn("invalid beta flag", body(), [ACCEPTED_A, ACCEPTED_B], INVOKE)).toBeUndefined();
    expect(p.learn("invalid beta flag", body(), [], INVOKE)).toBeUndefined();
    expect(warnings).toEqual([]);
  });
});

describe("learn: Extra inputs are not permitted", () => {
  const MESSAGE = "tools.3.custom.defer_loading: Extra inputs are not permitted";

  function withDeferLoading(indexes: number[], count = 5): Record<string, unknown> {
    const list = tools(count);
    for (const i of indexes) list[i]!.defer_loading = true;
    return body({ tools: list });
  }

  it("deletes the nested field (the custom union tag is not a key) from a copy", () => {
    const { policy: p, warnings } = policy();
    const original = withDeferLoading([3]);
    const retry = p.learn(MESSAGE, original, [ACCEPTED_A], MESSAGES);
    expect(retry).toBeDefined();
    expect(retry!.betas).toEqual([ACCEPTED_A]);
    expect(retry!.body).toEqual(body({ tools: tools(5) }));
    // The request as the caller built it is left alone.
    expect((original.tools as Record<string, unknown>[])[3]!.defer_loading).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("defer_loading");
  });

  it("remembers the field for every tool of later requests to the same target", () => {
    const { policy: p } = policy();
    p.learn(MESSAGE, withDeferLoading([3]), [], MESSAGES);
    const later = withDeferLoading([0, 4, 6], 7);
    p.adapt(later, [], MESSAGES);
    expect(later).toEqual(body({ tools: tools(7) }));
    const elsewhere = withDeferLoading([0]);
    p.adapt(elsewhere, [], { ...MESSAGES, key: "another target" });
    expect((elsewhere.tools as Record<string, unknown>[])[0]!.defer_loading).toBe(true);
  });

  it("names the remembered field as tools.*.defer_loading", () => {
    const { policy: p, warnings } = policy();
    p.learn(MESSAGE, withDeferLoading([3]), [], MESSAGES);
    p.adapt(withDeferLoading([1]), [], MESSAGES);
    expect(warnings.length).toBeGreaterThan(0);
    for (const warning of warnings) {
      expect(warning).toContain("tools.*.defer_loading");
      expect(warning).not.toContain("custom");
    }
  });

  it("drops a top-level field it is told about", () => {
    const { policy: p } = policy();
    const retry = p.learn(
      "service_tier: Extra inputs are not permitted",
      body({ service_tier: "auto" }),
      [],
      INVOKE,
    );
    expect(retry?.body).toEqual(body());
  });

  it("returns undefined when the named field is not in the body", () => {
    const { policy: p, warnings } = policy();
    expect(p.learn(MESSAGE, body({ tools: tools(5) }), [], MESSAGES)).toBeUndefined();
    expect(p.learn(MESSAGE, body(), [], MESSAGES)).toBeUndefined();
    expect(warnings).toEqual([]);
  });

  it("returns undefined for refusals it cannot act on", () => {
    const { policy: p } = policy();
    expect(p.learn("max_tokens: Field required", body(), [UNKNOWN_FLAG], INVOKE)).toBeUndefined();
    expect(p.learn("Too many requests, please wait", body(), [UNKNOWN_FLAG], INVOKE)).toBeUndefined();
  });
});

describe("end to end: a refusal the shipped rules do not know", () => {
  const emulator = useEmulator({ config: { deniedBetas: [UNKNOWN_FLAG] } });

  function client(warnings: string[]) {
    return createClient({
      endpoint: emulator.current.url,
      region: "us-east-1",
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
      warn: (m) => warnings.push(m),
      anthropic: { maxRetries: 0 },
    });
  }

  function ask(c: ReturnType<typeof createClient>) {
    return c.beta.messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 16,
      messages: [{ role: "user", content: "Hello" }],
      betas: [UNKNOWN_FLAG],
    });
  }

  const runtime = () => emulator.current.requests().filter((r) => r.api === "bedrock-runtime");

  it("retries once without the flag, warns naming it, and does not send it again", async () => {
    emulator.current.resetJournal();
    const warnings: string[] = [];
    const c = client(warnings);
    const first = await ask(c);
    expect(first.type).toBe("message");
    expect(runtime().map((r) => [r.status, r.errorName])).toEqual([
      [400, "ValidationException"],
      [200, null],
    ]);
    expect(warnings.some((w) => w.includes(UNKNOWN_FLAG))).toBe(true);

    emulator.current.resetJournal();
    const second = await ask(c);
    expect(second.type).toBe("message");
    expect(runtime().map((r) => r.status)).toEqual([200]);
  });

  it("warns about the flag once across both calls", async () => {
    const warnings: string[] = [];
    const c = client(warnings);
    await ask(c);
    await ask(c);
    expect(warnings.filter((w) => w.includes(UNKNOWN_FLAG))).toHaveLength(1);
  });
});
