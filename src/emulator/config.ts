/**
 * The emulator's configuration: identities and their rights, API keys, quotas, pace and faults.
 * Read from a JSON file (`--config`) or given to `startEmulator()`; validated here so that a bad
 * file fails at start with a message naming the field, never half-way through a test.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";

export const FAULT_ERRORS = [
  "ThrottlingException",
  "ServiceUnavailableException",
  "ModelNotReadyException",
  "ModelTimeoutException",
  "InternalServerException",
  "ModelStreamErrorException",
  "ConnectionReset",
  "none",
] as const;

export const faultRuleSchema = z
  .object({
    error: z.enum(FAULT_ERRORS),
    rate: z.number().min(0).max(1).default(1),
    region: z.string().min(1).optional(),
    model: z.string().min(1).optional(),
    afterEvents: z.number().int().min(0).optional(),
    latencyMs: z.number().int().min(0).max(600_000).optional(),
  })
  .strict();

export const faultSpecSchema = z
  .object({ seed: z.number().int().optional(), rules: z.array(faultRuleSchema).default([]) })
  .strict();

export type FaultRule = z.infer<typeof faultRuleSchema>;
export type FaultSpec = z.infer<typeof faultSpecSchema>;
/** A fault spec as written: `rate` defaults to 1. */
export type FaultSpecInput = z.input<typeof faultSpecSchema>;

const identitySchema = z
  .object({
    name: z.string().min(1),
    accessKeyId: z.string().min(1),
    secretAccessKey: z.string().min(1),
    /** Temporary credentials: requests must carry this as `X-Amz-Security-Token`. */
    sessionToken: z.string().min(1).optional(),
    /** When temporary credentials stop working (ISO 8601). */
    expiresAt: z.string().datetime().optional(),
    account: z
      .string()
      .regex(/^\d{12}$/)
      .default("000000000000"),
    arn: z.string().optional(),
    /** IAM actions allowed, e.g. `bedrock:InvokeModel`, `bedrock:*`. Default: every action. */
    allowedActions: z.array(z.string().min(1)).default(["*"]),
    /** Models the policy covers (ids, profile ids, Anthropic names; `*` globs). Default: all. */
    allowedModels: z.array(z.string().min(1)).default(["*"]),
    /** Models whose access has been granted to the account (Bedrock "model access"). Default: all. */
    modelAccess: z.array(z.string().min(1)).default(["*"]),
  })
  .strict();

export type IdentityConfig = z.infer<typeof identitySchema>;

const apiKeySchema = z
  .object({
    key: z.string().min(1),
    /** The identity whose rights the key carries. */
    identity: z.string().min(1),
    /** Short-term keys are bound to one region. */
    region: z.string().optional(),
    expiresAt: z.string().datetime().optional(),
  })
  .strict();

const quotaSchema = z
  .object({
    region: z.string().optional(),
    model: z.string().optional(),
    rpm: z.number().int().positive().optional(),
    tpm: z.number().int().positive().optional(),
  })
  .strict();

export type QuotaConfig = z.infer<typeof quotaSchema>;

export const emulatorConfigSchema = z
  .object({
    /** Region for requests that carry none (Bearer API keys on a plain localhost URL). */
    defaultRegion: z.string().default("us-east-1"),
    identities: z.array(identitySchema).default([]),
    apiKeys: z.array(apiKeySchema).default([]),
    /** Keys accepted as `x-api-key` on the Anthropic API's own `/v1/messages`. */
    anthropicApiKeys: z.array(z.string().min(1)).default([]),
    quotas: z.array(quotaSchema).default([]),
    /** Delay before the first byte of each answer, and between stream events. */
    pace: z
      .object({
        firstByteMs: z.number().int().min(0).default(0),
        eventMs: z.number().int().min(0).default(0),
      })
      .strict()
      .default({ firstByteMs: 0, eventMs: 0 }),
    /** Output tokens per content_block_delta when streaming. */
    tokensPerDelta: z.number().int().positive().default(3),
    /** Beta flags refused with `invalid beta flag`, added to the shipped deny list. */
    deniedBetas: z.array(z.string()).default([]),
    /** Seed for fault draws and generated ids: a seeded run repeats exactly. */
    seed: z.number().int().optional(),
    faults: faultSpecSchema.optional(),
    /** How many entries `/_emulator/requests` keeps. */
    requestLogSize: z.number().int().positive().default(10_000),
  })
  .strict();

export type EmulatorConfigInput = z.input<typeof emulatorConfigSchema>;
export type EmulatorConfig = z.output<typeof emulatorConfigSchema>;

/** The identity every emulator knows: LocalStack's convention, allowed everything. */
export const DEFAULT_IDENTITY: IdentityConfig = {
  name: "test",
  accessKeyId: "test",
  secretAccessKey: "test",
  account: "000000000000",
  arn: "arn:aws:iam::000000000000:root",
  allowedActions: ["*"],
  allowedModels: ["*"],
  modelAccess: ["*"],
};

/**
 * The documented default Bedrock API key (shape of a long-term key: `ABSK` + base64), carrying the
 * default identity. Tests and demos use it with `AWS_BEARER_TOKEN_BEDROCK`.
 */
export const DEFAULT_API_KEY = "ABSKZW11bGF0b3ItdGVzdC1rZXk=";

/** The documented default key for the emulator's Anthropic API endpoint (`x-api-key`). */
export const DEFAULT_ANTHROPIC_API_KEY = "sk-ant-emulator-test";

export function parseEmulatorConfig(input: unknown, origin = "emulator config"): EmulatorConfig {
  const result = emulatorConfigSchema.safeParse(input ?? {});
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
    throw new Error(`Invalid ${origin}:\n  ${problems.join("\n  ")}`);
  }
  return result.data;
}

export function loadEmulatorConfigFile(path: string): EmulatorConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`Cannot read emulator config ${path}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`Emulator config ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parseEmulatorConfig(json, `emulator config ${path}`);
}

/**
 * Parses `--faults`: either JSON (`{"rules":[...]}` or an array of rules) or the short form
 * `ThrottlingException:0.3,ServiceUnavailableException:1@us-east-1` (error:rate[@region][/model]).
 */
export function parseFaultSpec(spec: string): FaultSpec {
  const trimmed = spec.trim();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    const json = JSON.parse(trimmed) as unknown;
    const parsed = faultSpecSchema.safeParse(Array.isArray(json) ? { rules: json } : json);
    if (!parsed.success) throw new Error(`Invalid --faults: ${parsed.error.issues[0]?.message}`);
    return parsed.data;
  }
  const rules = trimmed
    .split(",")
    .filter(Boolean)
    .map((part) => {
      const match = /^(\w+)(?::([\d.]+))?(?:@([\w-]+))?(?:\/(.+))?$/.exec(part.trim());
      if (!match) throw new Error(`Invalid --faults rule "${part}": expected error[:rate][@region][/model]`);
      return {
        error: match[1],
        rate: match[2] === undefined ? 1 : Number(match[2]),
        region: match[3],
        model: match[4],
      };
    });
  const parsed = faultSpecSchema.safeParse({ rules });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`Invalid --faults: ${issue?.path.join(".")}: ${issue?.message}`);
  }
  return parsed.data;
}
