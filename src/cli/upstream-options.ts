/**
 * The options every command that calls upstream shares (`--provider --region --endpoint --profile
 * --model --emulator`), turned into `createClient()` options. `--emulator` starts an emulator in
 * this process and points at it, so everything can be tried without an AWS account.
 */
import path from "node:path";
import type { Command } from "commander";
import type { CreateClientOptions } from "../client.js";
import { bedrockClaudeHome } from "../config/home.js";
import { type RunningEmulator, startEmulator } from "../emulator/index.js";
import type { Provider } from "../models/resolve.js";

export interface UpstreamFlags {
  provider?: string;
  region?: string;
  endpoint?: string;
  profile?: string;
  model?: string;
  geography?: string;
  config?: string;
  emulator?: boolean;
}

const PROVIDERS: readonly Provider[] = ["bedrock", "bedrock-mantle", "anthropic"];

/** The ledger `--emulator` runs record into (`usage --emulator` reads it). */
export function emulatorLedgerPath(): string {
  return path.join(bedrockClaudeHome(), "emulator-ledger.db");
}

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export function addUpstreamOptions(command: Command): Command {
  return command
    .option("--provider <provider>", "bedrock (default), bedrock-mantle or anthropic")
    .option("--region <region>", "AWS region (default: AWS_REGION, the profile's region, us-east-1)")
    .option("--endpoint <url>", "service URL: a VPC endpoint, FIPS, or an emulator")
    .option("--profile <name>", "AWS profile of the shared config files")
    .option(
      "--geography <geo>",
      "preferred inference profile geography: us, eu, apac, jp, au, global, in-region",
    )
    .option("--config <file>", "bedrock-claude config file")
    .option("--emulator", "run against a local emulator started in this process");
}

export interface Upstream {
  options: CreateClientOptions;
  emulator?: RunningEmulator;
  close(): Promise<void>;
}

export async function upstreamFrom(flags: UpstreamFlags): Promise<Upstream> {
  if (flags.provider !== undefined && !PROVIDERS.includes(flags.provider as Provider)) {
    throw new UsageError(`--provider must be one of ${PROVIDERS.join(", ")}; got "${flags.provider}"`);
  }
  const options: CreateClientOptions = {
    provider: flags.provider as Provider | undefined,
    region: flags.region,
    endpoint: flags.endpoint,
    profile: flags.profile,
    geography: flags.geography,
    configFile: flags.config,
  };
  if (!flags.emulator) return { options, close: async () => undefined };
  const emulator = await startEmulator({ port: 0 });
  const provider = options.provider ?? "bedrock";
  return {
    options: {
      ...options,
      provider,
      // Emulated calls cost nothing: they go to a ledger of their own, not the real one.
      ledger: { path: emulatorLedgerPath() },
      endpoint: emulator.url,
      credentials: {
        accessKeyId: emulator.credentials.accessKeyId,
        secretAccessKey: emulator.credentials.secretAccessKey,
      },
      apiKey: provider === "anthropic" ? emulator.credentials.anthropicApiKey : undefined,
    },
    emulator,
    close: () => emulator.close(),
  };
}
