/** `bedrock-claude models`: which Claude models a target serves, and what each name resolves to. */
import type { Command } from "commander";
import { resolveTargets } from "../client.js";
import { isPastBedrockEndOfLife, type ModelEntry, shippedCatalog } from "../models/catalog.js";
import { ModelResolutionError, resolveModel } from "../models/resolve.js";
import { addUpstreamOptions, type UpstreamFlags, upstreamFrom } from "./upstream-options.js";

interface ModelsFlags extends UpstreamFlags {
  json?: boolean;
  all?: boolean;
}

export interface ModelRow {
  name: string;
  aliases: string[];
  resolvesTo: string | null;
  /** Other ids that work from this region (other profiles, the in-region foundation id). */
  alsoAvailable: string[];
  status: string;
  endOfLife: string | null;
  verified: boolean;
}

function statusOf(model: ModelEntry, now: Date): string {
  if (isPastBedrockEndOfLife(model, now)) return "end of life";
  return model.lifecycle.status === "LEGACY" ? "legacy" : "active";
}

export function modelRows(
  provider: "bedrock" | "bedrock-mantle" | "anthropic",
  region: string,
  geography?: string,
  all = false,
): ModelRow[] {
  const catalog = shippedCatalog();
  const now = new Date();
  const rows: ModelRow[] = [];
  for (const model of catalog.models) {
    let resolvesTo: string | null = null;
    try {
      resolvesTo = resolveModel(catalog, model.anthropicName, { provider, region, geography }).id;
    } catch (error) {
      if (!(error instanceof ModelResolutionError)) throw error;
    }
    if (!all && (resolvesTo === null || isPastBedrockEndOfLife(model, now))) continue;
    const also =
      provider === "bedrock"
        ? [
            ...catalog
              .profilesIn(region)
              .filter((p) => p.model === model)
              .map((p) => p.id),
            ...(model.inRegions.includes(region) || !model.requiresInferenceProfile
              ? [model.bedrockModelId]
              : []),
          ].filter((id) => id !== resolvesTo)
        : [];
    rows.push({
      name: model.anthropicName,
      aliases: model.aliases,
      resolvesTo,
      alsoAvailable: also,
      status: statusOf(model, now),
      endOfLife: model.lifecycle.endOfLife ?? null,
      verified: model.verified,
    });
  }
  return rows;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export function registerModels(program: Command): void {
  addUpstreamOptions(
    program
      .command("models")
      .description("list the Claude models a region serves and what each name resolves to"),
  )
    .option("--json", "print JSON")
    .option("--all", "include models this target cannot serve and those past end of life")
    .action(async (flags: ModelsFlags) => {
      const upstream = await upstreamFrom(flags);
      try {
        const [target] = await resolveTargets(upstream.options);
        const rows = modelRows(target!.provider, target!.region, target!.geography, flags.all);
        if (flags.json) {
          process.stdout.write(
            `${JSON.stringify({ provider: target!.provider, region: target!.region, models: rows }, null, 2)}\n`,
          );
          return;
        }
        process.stdout.write(
          `Claude models on ${target!.name} (catalog of ${shippedCatalog().updated}):\n\n`,
        );
        const lines = rows.map((r) => [
          [r.name, ...r.aliases].join(", "),
          r.resolvesTo ?? "-",
          r.status + (r.endOfLife && r.status !== "end of life" ? ` (end of life ${r.endOfLife})` : ""),
          r.verified ? "" : "unverified id",
          r.alsoAvailable.join(" "),
        ]);
        process.stdout.write(`${table([["NAME", "RESOLVES TO", "STATUS", "NOTE", "ALSO"], ...lines])}\n`);
      } finally {
        await upstream.close();
      }
    });
}
