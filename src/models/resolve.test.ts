/**
 * Model resolution against the shipped catalog. Expectations come from `data/models.json` (which
 * models have which profiles, which regions each geography covers), not from guesses, so that
 * a data update that changes an answer shows up here as a failed expectation about the data.
 */
import { describe, expect, it } from "vitest";
import { readDataFile } from "../util/data-file.js";
import { type CatalogData, isPastBedrockEndOfLife, type ModelEntry, shippedCatalog } from "./catalog.js";
import { availableNames, ModelResolutionError, type ResolveOptions, resolveModel } from "./resolve.js";

const data = readDataFile<CatalogData>("models.json");
const catalog = shippedCatalog();
/**
 * The date lifecycle checks use: the day the data was updated, so that answers do not change as
 * models reach their end of life (the lifecycle cases below pick their own dates).
 */
const NOW = new Date(`${data.updated}T12:00:00Z`);
const current = (m: ModelEntry) => !isPastBedrockEndOfLife(m, NOW);
const names = (provider: ResolveOptions["provider"], region: string, now = NOW) =>
  availableNames(catalog, provider, region, now);

function entry(name: string): ModelEntry {
  const found = data.models.find((m) => m.anthropicName === name || m.aliases.includes(name));
  if (!found) throw new Error(`data/models.json has no ${name}`);
  return found;
}

/** The first model (newest first) that matches, so the tests follow the data. */
function firstModel(description: string, predicate: (m: ModelEntry) => boolean): ModelEntry {
  const found = data.models.find(predicate);
  if (!found) throw new Error(`data/models.json has no model that ${description}`);
  return found;
}

const covers = (geo: string, region: string) => data.geographies[geo]!.sourceRegions.includes(region);

function bedrock(name: string, region: string, extra: Partial<ResolveOptions> = {}) {
  return resolveModel(catalog, name, { provider: "bedrock", region, now: NOW, ...extra });
}

function resolutionError(run: () => unknown): ModelResolutionError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ModelResolutionError);
    return error as ModelResolutionError;
  }
  throw new Error("expected a ModelResolutionError");
}

const SONNET_46 = entry("claude-sonnet-4-6");
const HAIKU_45 = entry("claude-haiku-4-5");

describe("the data these tests rely on", () => {
  it("has the shapes the cases below assume", () => {
    expect(covers("us", "us-east-1") && covers("eu", "eu-west-1")).toBe(true);
    expect(covers("jp", "ap-northeast-1") && covers("apac", "ap-northeast-1")).toBe(true);
    expect(SONNET_46.profiles).toEqual(expect.arrayContaining(["us", "eu", "jp", "global"]));
    expect(SONNET_46.inRegions).toContain("eu-west-2");
    expect(SONNET_46.requiresInferenceProfile).toBe(true);
    expect(HAIKU_45.aliases).toContain("claude-haiku-4-5");
    expect(HAIKU_45.anthropicName).not.toBe("claude-haiku-4-5");
  });
});

describe("Anthropic names on Bedrock: the region's geography profile", () => {
  it.each([
    ["us-east-1", "us"],
    ["eu-west-1", "eu"],
    ["ap-northeast-1", "jp"],
  ])("claude-sonnet-4-6 in %s → %s.", (region, prefix) => {
    expect(covers(prefix, region)).toBe(true);
    expect(bedrock("claude-sonnet-4-6", region)).toEqual({
      id: `${prefix}.${SONNET_46.bedrockModelId}`,
      entry: SONNET_46,
      kind: "inference-profile",
    });
  });

  it("the alias and the dated name resolve to the same profile", () => {
    const expected = `us.${HAIKU_45.bedrockModelId}`;
    expect(bedrock("claude-haiku-4-5", "us-east-1").id).toBe(expected);
    expect(bedrock(HAIKU_45.anthropicName, "us-east-1").id).toBe(expected);
    expect(bedrock(HAIKU_45.anthropicName, "eu-west-1").id).toBe(`eu.${HAIKU_45.bedrockModelId}`);
  });

  it("ap-northeast-1 without a jp profile falls back to apac", () => {
    const model = firstModel(
      "has apac but not jp",
      (m) => m.profiles.includes("apac") && !m.profiles.includes("jp"),
    );
    // Such models may be past their end of life today: ask on a day they were still served.
    const end = model.lifecycle.endOfLife;
    const now = end ? new Date(Date.parse(end) - 86_400_000) : NOW;
    expect(bedrock(model.anthropicName, "ap-northeast-1", { now })).toMatchObject({
      id: `apac.${model.bedrockModelId}`,
      kind: "inference-profile",
    });
  });

  it("ap-northeast-1 with neither jp nor apac nor on-demand falls back to global", () => {
    const model = firstModel(
      "has global, no jp/apac, and is not on demand in ap-northeast-1",
      (m) =>
        current(m) &&
        m.profiles.includes("global") &&
        !m.profiles.includes("jp") &&
        !m.profiles.includes("apac") &&
        !m.inRegions.includes("ap-northeast-1"),
    );
    expect(bedrock(model.anthropicName, "ap-northeast-1")).toMatchObject({
      id: `global.${model.bedrockModelId}`,
      kind: "inference-profile",
    });
  });

  it("a region in two geographies takes the smaller one (ap-southeast-2: au before apac)", () => {
    expect(covers("au", "ap-southeast-2") && covers("apac", "ap-southeast-2")).toBe(true);
    expect(SONNET_46.profiles).toContain("au");
    expect(bedrock("claude-sonnet-4-6", "ap-southeast-2").id).toBe(`au.${SONNET_46.bedrockModelId}`);
  });

  it("prefers the region's profile to an on-demand id (claude-sonnet-4-6 in eu-west-2 → eu.)", () => {
    expect(covers("eu", "eu-west-2")).toBe(true);
    expect(bedrock("claude-sonnet-4-6", "eu-west-2").id).toBe(`eu.${SONNET_46.bedrockModelId}`);
  });

  it("refuses a model with no profile that the region can call", () => {
    const model = firstModel(
      "has only the us profile and no on-demand region",
      (m) => current(m) && m.profiles.length === 1 && m.profiles[0] === "us" && m.inRegions.length === 0,
    );
    const error = resolutionError(() => bedrock(model.anthropicName, "eu-west-1"));
    expect(error.message).toContain("not available on bedrock in eu-west-1");
    expect(error.choices).toEqual(names("bedrock", "eu-west-1"));
    expect(error.choices).toContain("claude-sonnet-4-6");
  });
});

describe("the geography option", () => {
  it('"global" picks the global profile', () => {
    expect(bedrock("claude-sonnet-4-6", "us-east-1", { geography: "global" })).toMatchObject({
      id: `global.${SONNET_46.bedrockModelId}`,
      kind: "inference-profile",
    });
    expect(bedrock("claude-sonnet-4-6", "eu-west-1", { geography: "global" }).id).toBe(
      `global.${SONNET_46.bedrockModelId}`,
    );
  });

  it("a geography that does not cover the region is ignored for the region's own", () => {
    expect(covers("eu", "us-east-1")).toBe(false);
    expect(bedrock("claude-sonnet-4-6", "us-east-1", { geography: "eu" }).id).toBe(
      `us.${SONNET_46.bedrockModelId}`,
    );
  });

  it('"us-gov" picks the GovCloud profile where the model has one', () => {
    const model = firstModel("has a us-gov profile", (m) => current(m) && m.profiles.includes("us-gov"));
    const region = data.geographies["us-gov"]!.sourceRegions[0]!;
    expect(bedrock(model.anthropicName, region, { geography: "us-gov" }).id).toBe(
      `us-gov.${model.bedrockModelId}`,
    );
  });

  it('"in-region" gives the on-demand foundation id where the model runs on demand', () => {
    expect(bedrock("claude-sonnet-4-6", "eu-west-2", { geography: "in-region" })).toEqual({
      id: SONNET_46.bedrockModelId,
      entry: SONNET_46,
      kind: "foundation-model",
    });
  });

  it('"in-region" refuses a model that needs a profile in that region', () => {
    expect(SONNET_46.inRegions).not.toContain("us-east-1");
    const error = resolutionError(() =>
      bedrock("claude-sonnet-4-6", "us-east-1", { geography: "in-region" }),
    );
    expect(error.choices.length).toBeGreaterThan(0);
  });
});

describe("Bedrock ids given as the model", () => {
  it("a profile id of another geography is re-resolved for the region", () => {
    expect(bedrock(`eu.${SONNET_46.bedrockModelId}`, "us-east-1")).toMatchObject({
      id: `us.${SONNET_46.bedrockModelId}`,
      kind: "inference-profile",
    });
    expect(bedrock(`us.${HAIKU_45.bedrockModelId}`, "eu-west-1").id).toBe(`eu.${HAIKU_45.bedrockModelId}`);
  });

  it("a profile id the region can call is kept as asked", () => {
    expect(bedrock(`us.${SONNET_46.bedrockModelId}`, "us-east-1")).toEqual({
      id: `us.${SONNET_46.bedrockModelId}`,
      entry: SONNET_46,
      kind: "inference-profile",
    });
    expect(covers("global", "eu-west-1")).toBe(true);
    expect(bedrock(`global.${SONNET_46.bedrockModelId}`, "eu-west-1").id).toBe(
      `global.${SONNET_46.bedrockModelId}`,
    );
  });

  it("a foundation id that needs a profile in the region is upgraded to the profile", () => {
    expect(bedrock(SONNET_46.bedrockModelId, "us-east-1")).toEqual({
      id: `us.${SONNET_46.bedrockModelId}`,
      entry: SONNET_46,
      kind: "inference-profile",
    });
    expect(bedrock(HAIKU_45.bedrockModelId, "eu-west-1").id).toBe(`eu.${HAIKU_45.bedrockModelId}`);
  });

  it("a foundation id on demand in the region is kept (claude-sonnet-4-6 in eu-west-2)", () => {
    expect(bedrock(SONNET_46.bedrockModelId, "eu-west-2")).toEqual({
      id: SONNET_46.bedrockModelId,
      entry: SONNET_46,
      kind: "foundation-model",
    });
  });

  it("ARNs pass through untouched on Bedrock", () => {
    const arns = [
      "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6",
      `arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.${SONNET_46.bedrockModelId}`,
      "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:provisioned-model/abcdef123456",
    ];
    for (const arn of arns) expect(bedrock(arn, "us-east-1")).toEqual({ id: arn, kind: "arn" });
  });
});

describe("Bedrock Mantle", () => {
  const mantleRegion = data.mantle.regions[0]!;
  const pattern = new RegExp(data.mantle.modelIdPattern);
  const mantle = (name: string, region = mantleRegion) =>
    resolveModel(catalog, name, { provider: "bedrock-mantle", region, now: NOW });

  it("gets the foundation id, never a profile", () => {
    expect(pattern.test(SONNET_46.bedrockModelId)).toBe(true);
    expect(mantle("claude-sonnet-4-6")).toEqual({
      id: SONNET_46.bedrockModelId,
      entry: SONNET_46,
      kind: "foundation-model",
    });
    expect(mantle(`us.${SONNET_46.bedrockModelId}`).id).toBe(SONNET_46.bedrockModelId);
  });

  it("serves a model that has no Bedrock profile at all (Mantle-only)", () => {
    const only = firstModel(
      "Mantle serves but Bedrock does not",
      (m) =>
        current(m) && m.profiles.length === 0 && m.inRegions.length === 0 && pattern.test(m.bedrockModelId),
    );
    expect(mantle(only.anthropicName).id).toBe(only.bedrockModelId);
    resolutionError(() => bedrock(only.anthropicName, mantleRegion));
  });

  it("refuses a model whose id Mantle does not serve, offering those it does", () => {
    expect(pattern.test(HAIKU_45.bedrockModelId)).toBe(false);
    const error = resolutionError(() => mantle("claude-haiku-4-5"));
    expect(error.message).toContain(`on bedrock-mantle in ${mantleRegion}`);
    const served = data.models
      .filter((m) => current(m) && pattern.test(m.bedrockModelId))
      .map((m) => m.aliases[0] ?? m.anthropicName);
    expect(error.choices).toEqual(served);
    expect(error.choices).not.toContain("claude-haiku-4-5");
  });

  it("refuses every model in a region Mantle does not serve", () => {
    const region = "eu-west-2";
    expect(data.mantle.regions).not.toContain(region);
    const error = resolutionError(() => mantle("claude-sonnet-4-6", region));
    expect(error.choices).toEqual([]);
    expect(names("bedrock-mantle", region)).toEqual([]);
  });

  it("does not pass ARNs through", () => {
    resolutionError(() =>
      mantle("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"),
    );
  });
});

describe("the Anthropic API", () => {
  const anthropic = (name: string, aliases?: Record<string, string>) =>
    resolveModel(catalog, name, { provider: "anthropic", region: "anthropic", aliases, now: NOW });

  it("maps Bedrock ids back to the Anthropic name", () => {
    expect(anthropic(`us.${SONNET_46.bedrockModelId}`)).toEqual({
      id: SONNET_46.anthropicName,
      entry: SONNET_46,
      kind: "anthropic-name",
    });
    expect(anthropic(HAIKU_45.bedrockModelId).id).toBe(HAIKU_45.anthropicName);
    expect(anthropic(`eu.${HAIKU_45.bedrockModelId}`).id).toBe(HAIKU_45.anthropicName);
  });

  it("sends Anthropic names and aliases as given", () => {
    expect(anthropic("claude-haiku-4-5").id).toBe("claude-haiku-4-5");
    expect(anthropic(HAIKU_45.anthropicName).id).toBe(HAIKU_45.anthropicName);
  });

  it("passes unknown claude-* names through (the API is the authority)", () => {
    expect(anthropic("claude-future-9-20300101")).toEqual({
      id: "claude-future-9-20300101",
      kind: "anthropic-name",
    });
  });

  it("refuses unknown names that are not claude-*", () => {
    const error = resolutionError(() => anthropic("gpt-4o"));
    expect(error.message).toContain("on the Anthropic API");
    expect(error.choices).toEqual(data.models.map((m) => m.aliases[0] ?? m.anthropicName));
  });
});

describe("unknown names and user aliases", () => {
  it("an unknown name throws ModelResolutionError with the names that do work", () => {
    const error = resolutionError(() => bedrock("claude-nonexistent-1", "us-east-1"));
    expect(error.name).toBe("ModelResolutionError");
    expect(error.message).toContain('Unknown model "claude-nonexistent-1"');
    expect(error.choices).toEqual(names("bedrock", "us-east-1"));
    expect(error.choices).toContain("claude-sonnet-4-6");
    expect(error.choices).toContain("claude-haiku-4-5");
  });

  it("a profile of a model without that geography is unknown", () => {
    const model = firstModel("has no eu profile", (m) => current(m) && !m.profiles.includes("eu"));
    resolutionError(() => bedrock(`eu.${model.bedrockModelId}`, "eu-west-1"));
  });

  it("user aliases apply first, on every provider", () => {
    const aliases = { fast: "claude-haiku-4-5", pinned: `eu.${SONNET_46.bedrockModelId}` };
    expect(bedrock("fast", "eu-west-1", { aliases })).toMatchObject({
      id: `eu.${HAIKU_45.bedrockModelId}`,
      entry: HAIKU_45,
    });
    expect(bedrock("pinned", "us-east-1", { aliases }).id).toBe(`us.${SONNET_46.bedrockModelId}`);
    expect(resolveModel(catalog, "fast", { provider: "anthropic", region: "anthropic", aliases }).id).toBe(
      "claude-haiku-4-5",
    );
  });

  it("an alias to an ARN passes through on Bedrock", () => {
    const arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/team-a";
    expect(bedrock("team", "us-east-1", { aliases: { team: arn } })).toEqual({ id: arn, kind: "arn" });
  });

  it("an alias to an unknown model names the alias in the error", () => {
    const error = resolutionError(() => bedrock("fast", "us-east-1", { aliases: { fast: "claude-nope" } }));
    expect(error.message).toContain('"fast"');
  });
});

describe("availableNames", () => {
  /** What the data says a Bedrock region can call: a profile covering it, or on demand there. */
  function expectedOnBedrock(region: string): string[] {
    return data.models
      .filter((m) => current(m))
      .filter((m) => m.profiles.some((p) => covers(p, region)) || m.inRegions.includes(region))
      .map((m) => m.aliases[0] ?? m.anthropicName);
  }

  it.each(["us-east-1", "eu-west-1", "eu-west-2", "ap-northeast-1", "ap-southeast-2", "us-gov-west-1"])(
    "on bedrock in %s: the models the data lets the region call",
    (region) => {
      const available = names("bedrock", region);
      expect(available).toEqual(expectedOnBedrock(region));
      expect(available.length).toBeGreaterThan(0);
    },
  );

  it("names each model by its first alias when it has one", () => {
    const available = names("bedrock", "us-east-1");
    expect(available).toContain("claude-haiku-4-5");
    expect(available).not.toContain(HAIKU_45.anthropicName);
  });

  it("is empty for a region no geography covers", () => {
    expect(names("bedrock", "xx-nowhere-1")).toEqual([]);
  });

  it("lists every model for the Anthropic API", () => {
    expect(names("anthropic", "anthropic")).toHaveLength(data.models.length);
  });
});

describe("end of life on Bedrock", () => {
  const retired = firstModel(
    "has a Bedrock end of life",
    (m) => m.lifecycle.endOfLifeScope === "bedrock" && m.lifecycle.endOfLife !== undefined,
  );
  const end = Date.parse(retired.lifecycle.endOfLife!);
  const region = data.geographies[retired.profiles.find((p) => p !== "global")!]!.sourceRegions[0]!;

  it("a model is served the day before its end of life and refused from that day", () => {
    const before = new Date(end - 86_400_000);
    expect(bedrock(retired.anthropicName, region, { now: before }).entry).toEqual(retired);
    expect(names("bedrock", region, before)).toContain(retired.aliases[0] ?? retired.anthropicName);
    const after = new Date(end + 86_400_000);
    const error = resolutionError(() => bedrock(retired.anthropicName, region, { now: after }));
    expect(error.message).toContain(`end of life on Bedrock on ${retired.lifecycle.endOfLife}`);
    expect(error.choices).toEqual(names("bedrock", region, after));
    expect(error.choices).not.toContain(retired.aliases[0] ?? retired.anthropicName);
  });

  it("a Bedrock end of life does not apply to the Anthropic API", () => {
    const after = new Date(end + 86_400_000);
    expect(
      resolveModel(catalog, retired.anthropicName, { provider: "anthropic", region: "anthropic", now: after })
        .id,
    ).toBe(retired.anthropicName);
  });
});
