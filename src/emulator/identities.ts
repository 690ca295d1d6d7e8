/**
 * Who may call the emulator, and what each identity may do: the default `test`/`test` identity
 * plus those of the config file, their Bedrock API keys, and IAM-like checks on actions and models.
 */
import { createHash } from "node:crypto";
import type { ModelEntry } from "../models/catalog.js";
import { globToRegExp } from "../util/glob.js";
import { DEFAULT_API_KEY, DEFAULT_IDENTITY, type EmulatorConfig, type IdentityConfig } from "./config.js";

export interface Identity extends IdentityConfig {
  arn: string;
  /** What GetCallerIdentity answers as `UserId`. */
  userId: string;
}

export interface ApiKeyGrant {
  identity: Identity;
  region?: string;
  expiresAt?: string;
}

function matchesAny(patterns: readonly string[], candidates: readonly string[]): boolean {
  return patterns.some((pattern) => {
    const re = globToRegExp(pattern);
    return candidates.some((candidate) => re.test(candidate));
  });
}

/** A stable IAM unique id (`AIDA…`, `AROA…`): a prefix and 17 characters derived from the ARN. */
function uniqueId(prefix: string, arn: string): string {
  const digest = createHash("sha256").update(arn).digest();
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let id = prefix;
  for (let i = 0; i < 17; i++) id += alphabet[digest[i]! % alphabet.length];
  return id;
}

/**
 * GetCallerIdentity's `UserId` is the `aws:userid` policy variable: the account id for the root
 * user, `AIDA…` for an IAM user, `AROA…:session-name` for an assumed role.
 */
function userIdOf(arn: string, account: string): string {
  if (arn.endsWith(":root")) return account;
  const assumed = /:assumed-role\/([^/]+)\/(.+)$/.exec(arn);
  if (assumed) return `${uniqueId("AROA", `${account}:${assumed[1]}`)}:${assumed[2]}`;
  return uniqueId("AIDA", arn);
}

function complete(config: IdentityConfig): Identity {
  const arn = config.arn ?? `arn:aws:iam::${config.account}:user/${config.name}`;
  return { ...config, arn, userId: userIdOf(arn, config.account) };
}

export class IdentityStore {
  private readonly byKeyId = new Map<string, Identity>();
  private readonly byName = new Map<string, Identity>();
  private readonly apiKeys = new Map<string, ApiKeyGrant>();

  constructor(config: Pick<EmulatorConfig, "identities" | "apiKeys">) {
    // Configured identities come first, so one of them may redefine the default `test` key.
    for (const entry of [...config.identities, DEFAULT_IDENTITY]) {
      if (this.byKeyId.has(entry.accessKeyId) || this.byName.has(entry.name)) continue;
      const identity = complete(entry);
      this.byKeyId.set(identity.accessKeyId, identity);
      this.byName.set(identity.name, identity);
    }
    for (const key of config.apiKeys) {
      const identity = this.byName.get(key.identity);
      if (!identity) throw new Error(`Emulator config: API key names unknown identity "${key.identity}"`);
      this.apiKeys.set(key.key, { identity, region: key.region, expiresAt: key.expiresAt });
    }
    if (!this.apiKeys.has(DEFAULT_API_KEY)) {
      this.apiKeys.set(DEFAULT_API_KEY, { identity: this.byName.get(DEFAULT_IDENTITY.name)! });
    }
  }

  byAccessKeyId(accessKeyId: string): Identity | undefined {
    return this.byKeyId.get(accessKeyId);
  }

  byApiKey(key: string): ApiKeyGrant | undefined {
    return this.apiKeys.get(key);
  }
}

/** IAM-style action check: `bedrock:InvokeModel` against `*`, `bedrock:*`, `bedrock:Invoke*`. */
export function isActionAllowed(identity: Identity, action: string): boolean {
  return matchesAny(identity.allowedActions, [action]);
}

/** The names a policy or model-access pattern may use for a model. */
export function modelNames(model: ModelEntry, requestedId?: string): string[] {
  const names = [model.bedrockModelId, model.anthropicName, ...model.aliases];
  if (requestedId) names.push(requestedId);
  return names;
}

export function isModelAllowed(identity: Identity, model: ModelEntry, requestedId: string): boolean {
  return matchesAny(identity.allowedModels, modelNames(model, requestedId));
}

export function hasModelAccess(identity: Identity, model: ModelEntry): boolean {
  return matchesAny(identity.modelAccess, modelNames(model));
}

export function isExpired(expiresAt: string | undefined, now: Date): boolean {
  return expiresAt !== undefined && Date.parse(expiresAt) <= now.getTime();
}
