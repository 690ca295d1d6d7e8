/**
 * Resolving the `model` of a request to what a target serves: an Anthropic name or alias, a
 * foundation id, an inference profile id or an ARN becomes the id to send to this provider in
 * this region. On Bedrock the preferred inference profile is the configured geography's, else the
 * region's own geography (data stays in it), else an in-region on-demand id, else `global.`.
 */
import { isPastBedrockEndOfLife, type ModelCatalog, type ModelEntry } from "./catalog.js";

export type Provider = "bedrock" | "bedrock-mantle" | "anthropic";

export interface ResolveOptions {
  provider: Provider;
  region: string;
  /**
   * Preferred inference profile geography (`us`, `eu`, `apac`, `jp`, `au`, `us-gov`, `global`), or
   * `in-region` for the foundation id where the model runs on demand.
   */
  geography?: string;
  /** User aliases, applied first: `{ "fast": "claude-haiku-4-5" }`. */
  aliases?: Readonly<Record<string, string>>;
  /** The date lifecycle checks use (default: now). */
  now?: Date;
}

export interface ResolvedModel {
  /** The id to send upstream (path id on InvokeModel, `model` in the body elsewhere). */
  id: string;
  /** The catalog entry, when the catalog knows the model. */
  entry?: ModelEntry;
  kind: "inference-profile" | "foundation-model" | "arn" | "anthropic-name";
}

export class ModelResolutionError extends Error {
  override readonly name = "ModelResolutionError";
  constructor(
    message: string,
    /** Names that do resolve for this target, to offer the caller. */
    readonly choices: string[],
  ) {
    super(message);
  }
}

const ARN = /^arn:aws[\w-]*:bedrock:/;

/** Finds the catalog entry a name, alias, foundation id or profile id refers to. */
export function findModel(catalog: ModelCatalog, name: string): ModelEntry | undefined {
  return catalog.byName(name) ?? catalog.byFoundationId(name) ?? catalog.profileById(name)?.model;
}

/** Models a target can invoke in `region` (not past their end of life), by Anthropic name. */
export function availableNames(
  catalog: ModelCatalog,
  provider: Provider,
  region: string,
  now = new Date(),
): string[] {
  return catalog.models
    .filter((m) => provider === "anthropic" || !isPastBedrockEndOfLife(m, now))
    .filter((m) => bedrockIdFor(catalog, m, { provider, region }) !== undefined)
    .map((m) => m.aliases[0] ?? m.anthropicName);
}

function bedrockIdFor(
  catalog: ModelCatalog,
  model: ModelEntry,
  options: ResolveOptions,
): ResolvedModel | undefined {
  const { region } = options;
  if (options.provider === "anthropic")
    return { id: model.anthropicName, entry: model, kind: "anthropic-name" };
  if (options.provider === "bedrock-mantle") {
    return catalog.servedByMantle(model, region)
      ? { id: model.bedrockModelId, entry: model, kind: "foundation-model" }
      : undefined;
  }
  const profile = (prefix: string): ResolvedModel | undefined => {
    const geo =
      catalog.geographies[prefix] ?? Object.values(catalog.geographies).find((g) => g.prefix === prefix);
    if (!geo || !model.profiles.includes(geo.prefix) || !geo.sourceRegions.includes(region)) return undefined;
    return { id: `${geo.prefix}.${model.bedrockModelId}`, entry: model, kind: "inference-profile" };
  };
  const inRegion: ResolvedModel | undefined =
    (!model.requiresInferenceProfile && catalog.regionsOf(model).has(region)) ||
    model.inRegions.includes(region)
      ? { id: model.bedrockModelId, entry: model, kind: "foundation-model" }
      : undefined;
  if (options.geography === "in-region") return inRegion;
  if (options.geography) {
    const preferred = profile(options.geography);
    if (preferred) return preferred;
  }
  for (const geo of catalog.geographiesOf(region)) {
    const regional = profile(geo.prefix);
    if (regional) return regional;
  }
  return inRegion ?? profile("global");
}

/**
 * Resolves `name` for a target. Throws ModelResolutionError, listing the names that would work,
 * when the target cannot serve it; unknown names pass through only where the upstream is the
 * authority (ARNs on Bedrock, `claude-*` names on the Anthropic API).
 */
export function resolveModel(catalog: ModelCatalog, name: string, options: ResolveOptions): ResolvedModel {
  const requested = options.aliases?.[name] ?? name;
  if (options.provider === "bedrock" && ARN.test(requested)) return { id: requested, kind: "arn" };
  const model = findModel(catalog, requested);
  if (!model) {
    if (options.provider === "anthropic" && requested.startsWith("claude-")) {
      return { id: requested, kind: "anthropic-name" };
    }
    const choices = availableNames(catalog, options.provider, options.region, options.now);
    throw new ModelResolutionError(
      `Unknown model "${name}". Models ${describeTarget(options)}: ${choices.join(", ")}.`,
      choices,
    );
  }
  if (options.provider === "anthropic") {
    // Anthropic names and aliases go as given; Bedrock ids become the Anthropic name.
    return {
      id: catalog.byName(requested) ? requested : model.anthropicName,
      entry: model,
      kind: "anthropic-name",
    };
  }
  const now = options.now ?? new Date();
  if (isPastBedrockEndOfLife(model, now)) {
    const choices = availableNames(catalog, options.provider, options.region, now);
    throw new ModelResolutionError(
      `${model.modelName} (${name}) reached its end of life on Bedrock on ${model.lifecycle.endOfLife}. Available ${describeTarget(options)}: ${choices.join(", ")}.`,
      choices,
    );
  }
  // A profile id or on-demand foundation id that this region serves is kept as asked.
  const asProfile = catalog.profileById(requested);
  if (options.provider === "bedrock" && asProfile?.geography.sourceRegions.includes(options.region)) {
    return { id: requested, entry: model, kind: "inference-profile" };
  }
  const resolved = bedrockIdFor(catalog, model, options);
  if (
    options.provider === "bedrock" &&
    requested === model.bedrockModelId &&
    bedrockIdFor(catalog, model, { ...options, geography: "in-region" })
  ) {
    return { id: requested, entry: model, kind: "foundation-model" };
  }
  if (!resolved) {
    const choices = availableNames(catalog, options.provider, options.region, now);
    throw new ModelResolutionError(
      `${model.modelName} (${name}) is not available ${describeTarget(options)}. Available there: ${choices.join(", ")}.`,
      choices,
    );
  }
  return resolved;
}

function describeTarget(options: ResolveOptions): string {
  return options.provider === "anthropic"
    ? "on the Anthropic API"
    : `on ${options.provider} in ${options.region}`;
}
