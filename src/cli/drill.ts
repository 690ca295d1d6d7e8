/**
 * `bedrock-claude drill`: a failover rehearsal of the configured chain. It fails the primary on
 * purpose (on the emulator through its fault API; against real endpoints by forcing the primary's
 * breaker open, only with `--yes` since real calls cost money) and reports, per target, whether
 * requests succeeded, how much failover cost in latency, and what to fix.
 */
import type Anthropic from "@anthropic-ai/sdk";
import type { Command } from "commander";
import { type CreateClientOptions, createClient, resolveTargets } from "../client.js";
import { mergeSettings } from "../config/settings.js";
import { startEmulator } from "../emulator/index.js";
import { shippedCatalog } from "../models/catalog.js";
import type { AttemptRecord } from "../transport/resilient.js";
import type { TargetOptions } from "../transport/target.js";
import type { TransportControls } from "../transport/transport.js";
import { positiveInteger } from "./ask.js";
import { describeFailure, EXIT } from "./errors.js";
import { addUpstreamOptions, type UpstreamFlags, UsageError } from "./upstream-options.js";

interface DrillFlags extends UpstreamFlags {
  requests: string;
  yes?: boolean;
  json?: boolean;
}

/** The chain the emulator rehearses when none is configured: two regions, then the Anthropic API. */
const DEFAULT_EMULATED_CHAIN: TargetOptions[] = [
  { provider: "bedrock", region: "us-east-1" },
  { provider: "bedrock", region: "us-west-2" },
  { provider: "anthropic" },
];

interface PhaseReport {
  name: string;
  requests: number;
  succeeded: number;
  servedBy: Record<string, number>;
  attemptsByTarget: Record<string, number>;
  latencyMs: { p50: number; max: number };
  errors: string[];
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function runPhase(
  name: string,
  client: Anthropic,
  attempts: AttemptRecord[],
  count: number,
  model: string,
): Promise<PhaseReport> {
  const report: PhaseReport = {
    name,
    requests: count,
    succeeded: 0,
    servedBy: {},
    attemptsByTarget: {},
    latencyMs: { p50: 0, max: 0 },
    errors: [],
  };
  const latencies: number[] = [];
  const before = attempts.length;
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    try {
      const { response } = await client.messages
        .create({ model, max_tokens: 16, messages: [{ role: "user", content: `drill ${name} ${i}` }] })
        .withResponse();
      report.succeeded++;
      const target = response.headers.get("x-bedrock-claude-target") ?? "?";
      report.servedBy[target] = (report.servedBy[target] ?? 0) + 1;
    } catch (error) {
      report.errors.push(describeFailure(error).message.split("\n")[0]!);
    }
    latencies.push(performance.now() - started);
  }
  for (const attempt of attempts.slice(before)) {
    if (attempt.verdict === "skipped") continue;
    report.attemptsByTarget[attempt.target] = (report.attemptsByTarget[attempt.target] ?? 0) + 1;
  }
  report.latencyMs = {
    p50: Math.round(percentile(latencies, 50)),
    max: Math.round(Math.max(0, ...latencies)),
  };
  return report;
}

function printPhase(phase: PhaseReport): void {
  const served = Object.entries(phase.servedBy)
    .map(([t, n]) => `${n} via ${t}`)
    .join(", ");
  const attempts = Object.entries(phase.attemptsByTarget)
    .map(([t, n]) => `${t} ${n}`)
    .join(", ");
  process.stdout.write(
    `  ${phase.name}: ${phase.succeeded}/${phase.requests} succeeded${served ? ` (${served})` : ""}; upstream attempts: ${attempts || "none"}; latency p50 ${phase.latencyMs.p50} ms, max ${phase.latencyMs.max} ms\n`,
  );
  for (const error of [...new Set(phase.errors)].slice(0, 3)) process.stdout.write(`    error: ${error}\n`);
}

export function registerDrill(program: Command): void {
  addUpstreamOptions(
    program
      .command("drill")
      .description("rehearse failover: fail the primary on purpose and report what happened"),
  )
    .option("--model <model>", "model to call")
    .option("--requests <n>", "requests while the primary is failing", "20")
    .option("--yes", "against real endpoints: agree to send real (billed) requests")
    .option("--json", "print the report as JSON")
    .action(async (flags: DrillFlags) => {
      const count = positiveInteger("requests", flags.requests);
      const settings = mergeSettings({
        configFile: flags.config,
        provider: flags.provider as TargetOptions["provider"],
        region: flags.region,
        endpoint: flags.endpoint,
        profile: flags.profile,
      });
      let chain = settings.targets;
      const emulator = flags.emulator ? await startEmulator({ port: 0, seed: 1 }) : undefined;
      try {
        if (emulator) {
          if (chain.length < 2) chain = DEFAULT_EMULATED_CHAIN;
          const creds = {
            accessKeyId: emulator.credentials.accessKeyId,
            secretAccessKey: emulator.credentials.secretAccessKey,
          };
          chain = chain.map((t) => ({
            ...t,
            endpoint: emulator.url,
            ...(t.provider === "anthropic"
              ? { apiKey: emulator.credentials.anthropicApiKey }
              : { credentials: creds, apiKey: undefined }),
          }));
        } else {
          if (chain.length < 2) {
            throw new UsageError(
              "A drill needs a chain of at least two targets: list them under `targets` in the config file (--config).",
            );
          }
          if (!flags.yes) {
            throw new UsageError(
              "Against real endpoints the drill sends real, billed requests: add --yes to go ahead, or use --emulator.",
            );
          }
        }
        const targets = await resolveTargets({ targets: chain });
        const primary = targets[0]!;
        const attempts: AttemptRecord[] = [];
        const controls: TransportControls = {};
        const openMs = 1_000;
        const options: CreateClientOptions = {
          targets: chain,
          aliases: settings.aliases,
          resilience: {
            ...settings.resilience,
            breaker: { consecutiveFailures: 3, openMs, maxOpenMs: openMs },
          },
          onAttempt: (a) => attempts.push(a),
          controls,
          warn: () => undefined,
        };
        const model = flags.model ?? shippedCatalog().defaultModel;
        process.stdout.write(
          `Failover drill: ${targets.map((t) => t.name).join(" → ")}${emulator ? " (emulator)" : ""}\n`,
        );
        // One client through every phase: its breakers carry the state from phase to phase.
        const client = createClient(options);
        const baseline = await runPhase("1. baseline", client, attempts, Math.min(5, count), model);
        printPhase(baseline);
        if (emulator) {
          const region = primary.provider === "anthropic" ? "anthropic" : primary.region;
          emulator.setFaults({ rules: [{ error: "ServiceUnavailableException", rate: 1, region }] });
        } else {
          // Real endpoints are not failed for us: the primary's breaker is forced open instead.
          controls.forceOpen?.(primary.name, 60 * 60_000);
        }
        const failing = await runPhase(`2. ${primary.name} failing`, client, attempts, count, model);
        printPhase(failing);
        if (emulator) emulator.clearFaults();
        else controls.forceOpen?.(primary.name, 0);
        await new Promise((r) => setTimeout(r, openMs + 100));
        const recovery = await runPhase(
          `3. ${primary.name} back`,
          client,
          attempts,
          Math.min(5, count),
          model,
        );
        printPhase(recovery);
        const failedOver = failing.succeeded === failing.requests;
        const recovered =
          recovery.succeeded === recovery.requests && (recovery.servedBy[primary.name] ?? 0) > 0;
        const advice: string[] = [];
        if (!failedOver)
          advice.push(
            `Requests failed while ${primary.name} was down: check that every later target is ready (bedrock-claude models, credentials and model access in its region).`,
          );
        if (!recovered) advice.push(`${primary.name} did not take traffic back after it recovered.`);
        if (flags.json) {
          process.stdout.write(
            `${JSON.stringify({ chain: targets.map((t) => t.name), phases: [baseline, failing, recovery], failedOver, recovered }, null, 2)}\n`,
          );
        }
        process.stdout.write(
          failedOver && recovered
            ? "Verdict: failover works.\n"
            : `Verdict: failover needs work.\n${advice.map((a) => `  - ${a}`).join("\n")}\n`,
        );
        process.exitCode = failedOver && recovered ? EXIT.ok : EXIT.failure;
      } finally {
        await emulator?.close();
      }
    });
}
