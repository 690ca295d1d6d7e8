/**
 * The Claude model catalog: `data/models.json`, each entry with its source and date.
 * Model ids live in that file only; code looks them up here.
 */
import { readDataFile } from "../util/data-file.js";

export interface GeographyEntry {
  prefix: string;
  sourceRegions: string[];
  source: string;
  sourceDate: string;
}

export interface ModelLifecycle {
  status: "ACTIVE" | "LEGACY";
  legacySince?: string;
  /** The date requests stop working, on the service `endOfLifeScope` names. */
  endOfLife?: string;
  endOfLifeScope?: "bedrock" | "anthropic-api";
  /** The Anthropic API's date where it differs from Bedrock's. */
  anthropicApiEndOfLife?: string;
  /** From this date Bedrock bills the model at extended-access prices. */
  publicExtendedAccessFrom?: string;
}

export interface ModelEntry {
  anthropicName: string;
  aliases: string[];
  bedrockModelId: string;
  modelName: string;
  family: string;
  profiles: string[];
  inRegions: string[];
  requiresInferenceProfile: boolean;
  contextWindow: number;
  maxOutputTokens: number;
  inputModalities: string[];
  supportsThinking: boolean;
  lifecycle: ModelLifecycle;
  verified: boolean;
  source: string;
  sourceDate: string;
  note?: string;
}

/** Bedrock Mantle (`bedrock-mantle.{region}.api.aws/anthropic`): which ids and regions it serves. */
export interface MantleEntry {
  modelIdPattern: string;
  regions: string[];
  verified: boolean;
  source: string;
  sourceDate: string;
}

export interface CatalogData {
  updated: string;
  defaults: { model: string };
  geographies: Record<string, GeographyEntry>;
  mantle: MantleEntry;
  models: ModelEntry[];
}

export interface InferenceProfile {
  id: string;
  geography: GeographyEntry;
  model: ModelEntry;
}

/** What a model id in a request path resolves to in one region. */
export type ResolvedModelId =
  | { kind: "foundation-model"; model: ModelEntry }
  | { kind: "inference-profile"; model: ModelEntry; profile: InferenceProfile };

const FOUNDATION_ARN = /^arn:aws[\w-]*:bedrock:[\w-]*:\d*:foundation-model\/(.+)$/;
const PROFILE_ARN = /^arn:aws[\w-]*:bedrock:([\w-]+):\d{12}:inference-profile\/(.+)$/;

export class ModelCatalog {
  readonly models: readonly ModelEntry[];
  readonly geographies: Readonly<Record<string, GeographyEntry>>;
  readonly updated: string;
  readonly mantle: MantleEntry;
  /** The model to use when none is named (a current one; it changes with the data). */
  readonly defaultModel: string;
  private readonly mantlePattern: RegExp;
  private readonly byBedrockId = new Map<string, ModelEntry>();
  private readonly byAnthropicName = new Map<string, ModelEntry>();
  private readonly geoByPrefix = new Map<string, GeographyEntry>();

  constructor(data: CatalogData) {
    this.models = data.models;
    this.geographies = data.geographies;
    this.updated = data.updated;
    this.mantle = data.mantle;
    this.defaultModel = data.defaults.model;
    this.mantlePattern = new RegExp(data.mantle.modelIdPattern);
    for (const geo of Object.values(data.geographies)) this.geoByPrefix.set(geo.prefix, geo);
    for (const model of data.models) {
      this.byBedrockId.set(model.bedrockModelId, model);
      for (const name of [model.anthropicName, ...model.aliases]) this.byAnthropicName.set(name, model);
    }
  }

  /** A model by its Anthropic name or alias (`claude-sonnet-4-5`, `claude-sonnet-4-5-20250929`). */
  byName(name: string): ModelEntry | undefined {
    return this.byAnthropicName.get(name);
  }

  /** A model by its Bedrock foundation model id. */
  byFoundationId(id: string): ModelEntry | undefined {
    return this.byBedrockId.get(id);
  }

  /** Whether Mantle serves the model in `region`. */
  servedByMantle(model: ModelEntry, region: string): boolean {
    return this.mantlePattern.test(model.bedrockModelId) && this.mantle.regions.includes(region);
  }

  /**
   * The geographies a region belongs to, most specific first (ap-northeast-1: jp, then apac), not
   * counting `global`.
   */
  geographiesOf(region: string): GeographyEntry[] {
    return Object.values(this.geographies)
      .filter((g) => g.prefix !== "global" && g.sourceRegions.includes(region))
      .sort((a, b) => a.sourceRegions.length - b.sourceRegions.length);
  }

  /** Regions whose ListFoundationModels shows the model: its in-region ones and its profiles' sources. */
  regionsOf(model: ModelEntry): Set<string> {
    const regions = new Set(model.inRegions);
    for (const prefix of model.profiles) {
      for (const region of this.geoByPrefix.get(prefix)?.sourceRegions ?? []) regions.add(region);
    }
    return regions;
  }

  /** System inference profiles that can be called from `region`. */
  profilesIn(region: string): InferenceProfile[] {
    const profiles: InferenceProfile[] = [];
    for (const model of this.models) {
      for (const prefix of model.profiles) {
        const geography = this.geoByPrefix.get(prefix);
        if (geography?.sourceRegions.includes(region)) {
          profiles.push({ id: `${prefix}.${model.bedrockModelId}`, geography, model });
        }
      }
    }
    return profiles;
  }

  /** A system inference profile by id, wherever it can be called from. */
  profileById(id: string): InferenceProfile | undefined {
    const dot = id.indexOf(".");
    if (dot < 0) return undefined;
    const geography = this.geoByPrefix.get(id.slice(0, dot));
    const model = this.byBedrockId.get(id.slice(dot + 1));
    if (!geography || !model?.profiles.includes(geography.prefix)) return undefined;
    return { id, geography, model };
  }

  /**
   * Resolves a model id as Bedrock accepts it in a path (foundation id, system profile id, or an
   * ARN of either) for a call made in `region`. Undefined when the region does not serve it.
   */
  resolveModelId(modelId: string, region: string): ResolvedModelId | undefined {
    const foundationArn = FOUNDATION_ARN.exec(modelId);
    const profileArn = PROFILE_ARN.exec(modelId);
    if (profileArn && profileArn[1] !== region) return undefined;
    const id = foundationArn?.[1] ?? profileArn?.[2] ?? modelId;
    const model = this.byBedrockId.get(id);
    if (model) return this.regionsOf(model).has(region) ? { kind: "foundation-model", model } : undefined;
    const profile = this.profileById(id);
    if (profile?.geography.sourceRegions.includes(region)) {
      return { kind: "inference-profile", model: profile.model, profile };
    }
    return undefined;
  }
}

/** Whether the model has passed its end of life on Bedrock at `now`. */
export function isPastBedrockEndOfLife(model: ModelEntry, now: Date): boolean {
  const { endOfLife, endOfLifeScope } = model.lifecycle;
  return (
    endOfLife !== undefined && endOfLifeScope !== "anthropic-api" && Date.parse(endOfLife) <= now.getTime()
  );
}

let shipped: ModelCatalog | undefined;

/** The catalog shipped in `data/models.json` (read once). */
export function shippedCatalog(): ModelCatalog {
  if (!shipped) {
    shipped = new ModelCatalog(readDataFile<CatalogData>("models.json"));
  }
  return shipped;
}
