/**
 * `bedrock-claude keys create|list|revoke`: the gateway's virtual keys, in the keys store
 * (`$BEDROCK_CLAUDE_HOME/keys.db`, or `--store`). A running gateway sees changes at once.
 */
import type { Command } from "commander";
import { defaultKeysPath, parseBudget, SqliteKeyStore, type VirtualKey } from "../gateway/keys.js";
import { UsageError } from "./upstream-options.js";

interface StoreFlag {
  store?: string;
  json?: boolean;
}

interface CreateFlags extends StoreFlag {
  name: string;
  models?: string;
  rpm?: string;
  tpm?: string;
  budget?: string;
  admin?: boolean;
}

function positive(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(n > 0)) throw new UsageError(`${flag} must be a number above 0, got "${value}"`);
  return n;
}

function open(flags: StoreFlag): SqliteKeyStore {
  return new SqliteKeyStore(flags.store ?? process.env.BEDROCK_CLAUDE_KEYS ?? defaultKeysPath());
}

function describe(key: VirtualKey): string {
  const limits = [
    key.models.length > 0 ? `models ${key.models.join(",")}` : "all models",
    key.rpm !== null ? `${key.rpm} rpm` : undefined,
    key.tpm !== null ? `${key.tpm} tpm` : undefined,
    key.budget ? `budget ${key.budget.limitUsd} USD/${key.budget.period}` : undefined,
    key.admin ? "admin" : undefined,
  ].filter(Boolean);
  const state = key.revokedAt ? ` revoked ${new Date(key.revokedAt).toISOString()}` : "";
  return `${key.name.padEnd(20)} ${key.id}  ${key.hint.padEnd(10)} ${new Date(key.createdAt).toISOString().slice(0, 10)}  ${limits.join(", ")}${state}`;
}

export function registerKeys(program: Command): void {
  const keys = program.command("keys").description("the gateway's virtual keys: create, list, revoke");
  const storeOption = (command: Command) =>
    command
      .option("--store <file>", "keys store (default $BEDROCK_CLAUDE_HOME/keys.db)")
      .option("--json", "JSON output");

  storeOption(
    keys
      .command("create")
      .description("create a key; it is shown once")
      .requiredOption("--name <name>", "the name usage is recorded under")
      .option(
        "--models <list>",
        "comma-separated models the key may use (names, aliases, Bedrock ids, * globs)",
      )
      .option("--rpm <n>", "requests per minute")
      .option("--tpm <n>", "tokens per minute")
      .option("--budget <amount/period>", "hard budget in USD, e.g. 100/month or 5/day")
      .option("--admin", "may use the admin API and the dashboard"),
  ).action((flags: CreateFlags) => {
    let budget: ReturnType<typeof parseBudget> | undefined;
    try {
      budget = flags.budget ? parseBudget(flags.budget) : undefined;
    } catch (error) {
      throw new UsageError(`--budget: ${(error as Error).message}`);
    }
    const store = open(flags);
    try {
      const created = store.create({
        name: flags.name,
        models: flags.models
          ?.split(",")
          .map((m) => m.trim())
          .filter(Boolean),
        rpm: positive(flags.rpm, "--rpm"),
        tpm: positive(flags.tpm, "--tpm"),
        budget: budget ?? null,
        admin: flags.admin,
      });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(created, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        [
          `Created key "${created.key.name}" (${created.key.id}). It is shown once: keep it now.`,
          "",
          `  key (x-api-key / Authorization: Bearer):  ${created.token}`,
          `  SigV4 pair (AWS SDKs, boto3):             ${created.accessKeyId} / ${created.secretAccessKey}`,
          "",
          `  ${describe(created.key)}`,
          "",
        ].join("\n"),
      );
    } catch (error) {
      throw new UsageError((error as Error).message);
    } finally {
      store.close();
    }
  });

  storeOption(
    keys
      .command("list")
      .description("list keys (never their secrets)")
      .option("--all", "include revoked keys"),
  ).action((flags: StoreFlag & { all?: boolean }) => {
    const store = open(flags);
    try {
      const list = store.list({ includeRevoked: flags.all });
      if (flags.json) process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      else if (list.length === 0)
        process.stdout.write(
          "No keys: a gateway on loopback runs open. Create one with keys create --name NAME.\n",
        );
      else process.stdout.write(`${list.map(describe).join("\n")}\n`);
    } finally {
      store.close();
    }
  });

  storeOption(
    keys.command("revoke").description("revoke a key by name or id").argument("<name-or-id>"),
  ).action((nameOrId: string, flags: StoreFlag) => {
    const store = open(flags);
    try {
      const revoked = store.revoke(nameOrId);
      if (!revoked) throw new UsageError(`no active key named or numbered "${nameOrId}"`);
      if (flags.json) process.stdout.write(`${JSON.stringify(revoked, null, 2)}\n`);
      else process.stdout.write(`Revoked key "${revoked.name}" (${revoked.id}).\n`);
    } finally {
      store.close();
    }
  });
}
