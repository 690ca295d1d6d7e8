/** `bedrock-claude emulate`: the local Bedrock, until Ctrl-C. */
import type { Command } from "commander";
import { parseFaultSpec, startEmulator } from "../emulator/index.js";
import type { RequestRecord } from "../emulator/journal.js";
import { UsageError } from "./upstream-options.js";

interface EmulateOptions {
  port: string;
  host: string;
  config?: string;
  faults?: string;
  seed?: string;
  log?: boolean;
}

function integer(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number, got "${value}"`);
  return n;
}

/** One line per request; never the prompt or the answer. */
function logLine(r: RequestRecord): string {
  const tokens = r.inputTokens || r.outputTokens ? ` in=${r.inputTokens} out=${r.outputTokens}` : "";
  const cache =
    r.cacheReadInputTokens || r.cacheWriteInputTokens
      ? ` cache_read=${r.cacheReadInputTokens} cache_write=${r.cacheWriteInputTokens}`
      : "";
  const error = r.errorName ? ` ${r.errorName}` : "";
  return `${r.time} ${r.operation} ${r.region ?? "-"} ${r.model ?? "-"} ${r.status}${error} ${r.outcome}${tokens}${cache} ${r.latencyMs}ms`;
}

export function registerEmulate(program: Command): void {
  program
    .command("emulate")
    .description("run a local Bedrock (runtime, Mantle, control plane, STS) with fault injection")
    .option("--port <port>", "port to listen on", "4010")
    .option("--host <host>", "address to bind", "127.0.0.1")
    .option("--config <file>", "emulator config file (identities, API keys, quotas, pace, faults)")
    .option(
      "--faults <spec>",
      'faults: JSON, or short form "ThrottlingException:0.3,ServiceUnavailableException:1@us-east-1"',
    )
    .option("--seed <n>", "seed for faults and ids; a seeded run repeats exactly")
    .option("--log", "print one line per request (no prompt content)")
    .action(async (options: EmulateOptions) => {
      const emulator = await startEmulator({
        port: integer("port", options.port),
        host: options.host,
        config: options.config,
        faults: options.faults ? parseFaultSpec(options.faults) : undefined,
        seed: options.seed === undefined ? undefined : integer("seed", options.seed),
      });
      const { url, credentials } = emulator;
      process.stdout.write(
        [
          `bedrock-claude emulator listening on ${url} (every region; HTTP/1.1 and HTTP/2)`,
          "",
          "Point AWS SDKs and the Anthropic SDKs at it:",
          `  export AWS_ENDPOINT_URL=${url}`,
          `  export AWS_ACCESS_KEY_ID=${credentials.accessKeyId} AWS_SECRET_ACCESS_KEY=${credentials.secretAccessKey} AWS_REGION=us-east-1`,
          `  export AWS_BEARER_TOKEN_BEDROCK=${credentials.apiKey}`,
          `  export ANTHROPIC_BEDROCK_BASE_URL=${url}`,
          `  export ANTHROPIC_BEDROCK_MANTLE_BASE_URL=${url}/anthropic`,
          `  export ANTHROPIC_BASE_URL=${url} ANTHROPIC_API_KEY=${credentials.anthropicApiKey}`,
          "",
          `Admin: GET ${url}/_emulator/requests, GET ${url}/_emulator/usage, POST ${url}/_emulator/faults`,
          "Ctrl-C stops.",
          "",
        ].join("\n"),
      );
      if (options.log) emulator.state.journal.subscribe((r) => process.stdout.write(`${logLine(r)}\n`));
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        await emulator.close();
        process.exit(0);
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
}
