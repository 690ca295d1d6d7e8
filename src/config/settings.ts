/**
 * Settings for clients and commands, each read from (first wins): the option in code, the
 * `BEDROCK_CLAUDE_*` environment variable, the config file, then the default. AWS's own variables
 * (`AWS_REGION`, `AWS_PROFILE`, `AWS_BEARER_TOKEN_BEDROCK`, ...) and Anthropic's
 * (`ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`) keep their usual meaning underneath.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { ResiliencePolicy } from "../resilience/policy.js";
import type { TargetOptions } from "../transport/target.js";
import type { Budget } from "../usage/budgets.js";
import type { ModelPrices } from "../usage/prices.js";
import { gatewaySectionSchema } from "./gateway-settings.js";
import { bedrockClaudeHome } from "./home.js";

const providerSchema = z.enum(["bedrock", "bedrock-mantle", "anthropic"]);

const targetSchema = z
  .object({
    name: z.string().optional(),
    provider: providerSchema.optional(),
    region: z.string().optional(),
    endpoint: z.string().url().optional(),
    controlPlaneEndpoint: z.string().url().optional(),
    bedrockApi: z.enum(["invoke", "messages"]).optional(),
    profile: z.string().optional(),
    geography: z.string().optional(),
  })
  .strict();

const rateLimitSchema = z
  .object({
    rpm: z.number().positive().optional(),
    tpm: z.number().positive().optional(),
    maxQueue: z.number().int().min(0).optional(),
    maxWaitMs: z.number().int().min(0).optional(),
  })
  .strict();

const resilienceSchema = z
  .object({
    retry: z
      .object({
        maxAttempts: z.number().int().min(1).optional(),
        maxAttemptsPerTarget: z.number().int().min(1).optional(),
        baseMs: z.number().min(0).optional(),
        capMs: z.number().min(0).optional(),
        deadlineMs: z.number().min(0).optional(),
        budget: z
          .object({
            ratio: z.number().min(0).optional(),
            minRetries: z.number().min(0).optional(),
            windowMs: z.number().positive().optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    breaker: z
      .union([
        z.literal(false),
        z
          .object({
            consecutiveFailures: z.number().int().min(1).optional(),
            errorRate: z.number().min(0).max(1).optional(),
            minRequests: z.number().int().min(1).optional(),
            windowMs: z.number().positive().optional(),
            openMs: z.number().positive().optional(),
            maxOpenMs: z.number().positive().optional(),
            halfOpenProbes: z.number().int().min(1).optional(),
          })
          .strict(),
      ])
      .optional(),
    timeouts: z
      .object({
        connectMs: z.number().positive().optional(),
        firstByteMs: z.number().positive().optional(),
        idleMs: z.number().positive().optional(),
        totalMs: z.number().positive().optional(),
      })
      .strict()
      .optional(),
    limits: z.record(z.string(), rateLimitSchema).optional(),
  })
  .strict();

const priceSchema = z
  .object({
    input: z.number().min(0),
    output: z.number().min(0),
    cacheWrite5m: z.number().min(0),
    cacheWrite1h: z.number().min(0),
    cacheRead: z.number().min(0),
    batchInput: z.number().min(0).optional(),
    batchOutput: z.number().min(0).optional(),
  })
  .strict();

const priceEntrySchema = z
  .object({
    anthropicName: z.string(),
    anthropic: priceSchema.optional(),
    bedrock: z
      .object({
        global: priceSchema.optional(),
        regional: priceSchema.optional(),
        extendedAccess: priceSchema.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export const configFileSchema = targetSchema
  .extend({
    /** Read by `bedrock-claude serve` only (docs/gateway.md). */
    gateway: gatewaySectionSchema.optional(),
    aliases: z.record(z.string(), z.string()).optional(),
    compatibility: z.enum(["drop", "strict"]).optional(),
    targets: z.array(targetSchema).optional(),
    resilience: resilienceSchema.optional(),
    ledger: z.union([z.literal(false), z.object({ path: z.string().optional() }).strict()]).optional(),
    tag: z.string().optional(),
    prices: z.array(priceEntrySchema).optional(),
    budgets: z
      .array(
        z
          .object({
            name: z.string().optional(),
            scope: z
              .object({
                tag: z.string().optional(),
                key: z.string().optional(),
                model: z.string().optional(),
              })
              .strict()
              .optional(),
            period: z.enum(["day", "month"]),
            limitUsd: z.number().positive(),
            mode: z.enum(["soft", "hard"]),
          })
          .strict(),
      )
      .optional(),
  })
  .strict();

export type ConfigFile = z.infer<typeof configFileSchema>;

/**
 * The config file: `configFile` option, `BEDROCK_CLAUDE_CONFIG`, or `$BEDROCK_CLAUDE_HOME/config.json`
 * if present. YAML or JSON (JSON is YAML): read with a YAML 1.2 parser.
 */
export function loadConfigFile(explicit?: string, env = process.env): { path?: string; config: ConfigFile } {
  const chosen = explicit ?? env.BEDROCK_CLAUDE_CONFIG;
  const file = chosen ?? path.join(bedrockClaudeHome(env), "config.json");
  if (!chosen && !existsSync(file)) return { config: {} };
  let json: unknown;
  try {
    json = parseYaml(readFileSync(file, "utf8")) ?? {};
  } catch (error) {
    throw new Error(`Cannot read bedrock-claude config ${file}: ${(error as Error).message}`);
  }
  const parsed = configFileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new Error(`Invalid bedrock-claude config ${file}:\n  ${problems.join("\n  ")}`);
  }
  return { path: file, config: parsed.data };
}

function fromEnv(env: NodeJS.ProcessEnv): TargetOptions & { compatibility?: "drop" | "strict" } {
  const provider = env.BEDROCK_CLAUDE_PROVIDER
    ? providerSchema.parse(env.BEDROCK_CLAUDE_PROVIDER)
    : undefined;
  const bedrockApi = env.BEDROCK_CLAUDE_BEDROCK_API as "invoke" | "messages" | undefined;
  const compatibility = env.BEDROCK_CLAUDE_COMPATIBILITY as "drop" | "strict" | undefined;
  return {
    provider,
    region: env.BEDROCK_CLAUDE_REGION,
    endpoint: env.BEDROCK_CLAUDE_ENDPOINT,
    profile: env.BEDROCK_CLAUDE_PROFILE,
    geography: env.BEDROCK_CLAUDE_GEOGRAPHY,
    bedrockApi,
    compatibility,
  };
}

function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export interface MergedSettings {
  /** The targets in order; one when no chain is configured. */
  targets: TargetOptions[];
  aliases: Record<string, string>;
  compatibility: "drop" | "strict";
  resilience?: ResiliencePolicy;
  ledger?: false | { path?: string };
  tag?: string;
  prices?: ModelPrices[];
  budgets?: Budget[];
  configPath?: string;
}

/** Merges code options over the environment over the config file. */
export function mergeSettings(
  options: TargetOptions & {
    targets?: TargetOptions[];
    aliases?: Record<string, string>;
    compatibility?: "drop" | "strict";
    configFile?: string;
  },
  env = process.env,
): MergedSettings {
  const { path: configPath, config } = loadConfigFile(options.configFile, env);
  const {
    targets: fileTargets,
    aliases: fileAliases,
    compatibility: fileCompat,
    resilience,
    ledger,
    tag,
    prices,
    budgets,
    gateway: _gateway,
    ...fileTarget
  } = config;
  const { targets: codeTargets, aliases, compatibility, configFile: _, ...codeTarget } = options;
  const { compatibility: envCompat, ...envTarget } = fromEnv(env);
  const single = { ...defined(fileTarget), ...defined(envTarget), ...defined(codeTarget) } as TargetOptions;
  const targets = codeTargets ??
    fileTargets?.map(
      // Credentials cannot be written in the file: the ones given in code serve every file target.
      (t) =>
        ({
          ...defined(envTarget),
          ...(codeTarget.credentials && !t.profile ? { credentials: codeTarget.credentials } : {}),
          ...t,
        }) as TargetOptions,
    ) ?? [single];
  return {
    targets,
    aliases: { ...fileAliases, ...aliases },
    compatibility: compatibility ?? envCompat ?? fileCompat ?? "drop",
    resilience,
    ledger,
    tag,
    prices,
    budgets,
    configPath,
  };
}
