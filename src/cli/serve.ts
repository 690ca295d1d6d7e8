/** `bedrock-claude serve`: the gateway, until Ctrl-C (or SIGTERM), which drains in-flight requests first. */
import type { Command } from "commander";
import { GatewayConfigError, startGateway } from "../gateway/index.js";
import { addUpstreamOptions, type UpstreamFlags, UsageError, upstreamFrom } from "./upstream-options.js";

interface ServeFlags extends UpstreamFlags {
  port?: string;
  host?: string;
  insecureNoAuth?: boolean;
  logPrompts?: boolean;
  quiet?: boolean;
}

function port(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`--port must be 0 to 65535, got "${value}"`);
  return n;
}

export function registerServe(program: Command): void {
  addUpstreamOptions(
    program
      .command("serve")
      .description(
        "run the gateway: an Anthropic-compatible (and Bedrock-compatible) HTTP server in front of the configured chain",
      )
      .option("--port <port>", "port to listen on (default 4000; 0 picks one)")
      .option("--host <host>", "address to bind (default 127.0.0.1)")
      .option(
        "--insecure-no-auth",
        "listen on a non-loopback address without keys (only behind something that authenticates)",
      )
      .option("--log-prompts", "include prompt text in the request log lines")
      .option("--quiet", "no per-request log lines"),
  ).action(async (flags: ServeFlags) => {
    const upstream = await upstreamFrom(flags);
    let gateway: Awaited<ReturnType<typeof startGateway>>;
    try {
      gateway = await startGateway({
        ...upstream.options,
        port: port(flags.port),
        host: flags.host,
        insecureNoAuth: flags.insecureNoAuth,
        logging: {
          ...(flags.logPrompts ? { prompts: true } : {}),
          ...(flags.quiet ? { requests: false } : {}),
        },
      });
    } catch (error) {
      await upstream.close();
      if (error instanceof GatewayConfigError) throw new UsageError(error.message);
      throw error;
    }
    const url = gateway.url;
    process.stderr.write(
      [
        `bedrock-claude gateway on ${url}${upstream.emulator ? ` (in front of a local emulator at ${upstream.emulator.url})` : ""}`,
        gateway.open()
          ? "  open mode: no keys exist, so any key or none is accepted (create one: bedrock-claude keys create --name NAME)"
          : "  keys required: x-api-key or Authorization: Bearer",
        "",
        "Point any Anthropic SDK or tool at it:",
        `  export ANTHROPIC_BASE_URL=${url}${gateway.open() ? " ANTHROPIC_API_KEY=any" : " ANTHROPIC_API_KEY=<a virtual key>"}`,
        "Bedrock clients (boto3, AWS SDKs, Claude Code in Bedrock mode):",
        `  export AWS_ENDPOINT_URL_BEDROCK_RUNTIME=${url} ANTHROPIC_BEDROCK_BASE_URL=${url}`,
        "",
        `Health: ${url}/healthz  Ready: ${url}/readyz  Metrics: ${url}/metrics  Dashboard: ${url}/`,
        "Ctrl-C stops (in-flight requests finish first).",
        "",
      ].join("\n"),
    );
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      await gateway.close();
      await upstream.close();
      process.exit(0);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}
