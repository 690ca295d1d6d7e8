/**
 * Conformance of the emulator's Bedrock control plane with the official `@aws-sdk/client-bedrock`:
 * unmodified clients (endpoint and credentials aside) over real HTTP, SigV4-signed. Expectations
 * are derived from the shipped catalog (data/models.json), read here independently of the emulator.
 */
import { readFileSync } from "node:fs";
import {
  AccessDeniedException,
  BedrockClient,
  type FoundationModelSummary,
  GetFoundationModelAvailabilityCommand,
  GetFoundationModelCommand,
  GetInferenceProfileCommand,
  type InferenceProfileSummary,
  ListFoundationModelsCommand,
  ListInferenceProfilesCommand,
  paginateListInferenceProfiles,
  ValidationException,
} from "@aws-sdk/client-bedrock";
import { afterAll, describe, expect, it } from "vitest";
import {
  rejection,
  SONNET_46_FOUNDATION,
  SONNET_46_PROFILE,
  TEST_CREDENTIALS,
  useEmulator,
} from "../helpers.js";

interface CatalogModel {
  bedrockModelId: string;
  profiles: string[];
  inRegions: string[];
  requiresInferenceProfile: boolean;
  lifecycle: { status: string; legacySince?: string; endOfLife?: string; endOfLifeScope?: string };
}
interface CatalogGeography {
  prefix: string;
  sourceRegions: string[];
}
const catalog = JSON.parse(readFileSync(new URL("../../data/models.json", import.meta.url), "utf8")) as {
  geographies: Record<string, CatalogGeography>;
  models: CatalogModel[];
};
const geographies = new Map(Object.values(catalog.geographies).map((g) => [g.prefix, g]));

function pastEndOfLife(model: CatalogModel): boolean {
  const { endOfLife, endOfLifeScope } = model.lifecycle;
  return endOfLife !== undefined && endOfLifeScope !== "anthropic-api" && Date.parse(endOfLife) <= Date.now();
}

/** Regions where a model is offered: on demand in-region, or as the source of one of its profiles. */
function regionsOf(model: CatalogModel): Set<string> {
  const regions = new Set(model.inRegions);
  for (const prefix of model.profiles)
    for (const r of geographies.get(prefix)?.sourceRegions ?? []) regions.add(r);
  return regions;
}

function modelsIn(region: string): CatalogModel[] {
  return catalog.models.filter((m) => regionsOf(m).has(region) && !pastEndOfLife(m));
}

function profilesIn(region: string): { id: string; model: CatalogModel; geography: CatalogGeography }[] {
  return catalog.models
    .filter((m) => !pastEndOfLife(m))
    .flatMap((model) =>
      model.profiles
        .map((prefix) => geographies.get(prefix)!)
        .filter((geography) => geography.sourceRegions.includes(region))
        .map((geography) => ({ id: `${geography.prefix}.${model.bedrockModelId}`, model, geography })),
    );
}

const ACCOUNT = "000000000000";
const READER = { accessKeyId: "AKIAREADERNOLIST0001", secretAccessKey: "reader-secret-key" };
const NO_ACCESS = { accessKeyId: "AKIANOMODELACCESS002", secretAccessKey: "no-access-secret-key" };

const emulator = useEmulator({
  config: {
    identities: [
      // May read models and profiles one by one, but not list foundation models.
      {
        name: "reader",
        ...READER,
        allowedActions: [
          "bedrock:GetFoundationModel",
          "bedrock:ListInferenceProfiles",
          "bedrock:GetInferenceProfile",
        ],
      },
      { name: "no-access", ...NO_ACCESS, modelAccess: [] },
    ],
  },
});

const clients: BedrockClient[] = [];
function bedrock(
  region = "us-east-1",
  credentials: { accessKeyId: string; secretAccessKey: string } = TEST_CREDENTIALS,
): BedrockClient {
  const client = new BedrockClient({ region, endpoint: emulator.current.url, credentials, maxAttempts: 1 });
  clients.push(client);
  return client;
}
afterAll(() => {
  for (const client of clients) client.destroy();
});

/** The rejection of a call, or a failure when it succeeds. */
const rejectionOf = (call: Promise<unknown>) =>
  rejection<Error & { $metadata: { httpStatusCode?: number } }>(call);

async function listAnthropic(region: string): Promise<FoundationModelSummary[]> {
  const output = await bedrock(region).send(new ListFoundationModelsCommand({ byProvider: "Anthropic" }));
  expect(output.$metadata.httpStatusCode).toBe(200);
  return output.modelSummaries ?? [];
}

describe("ListFoundationModels", () => {
  it("lists exactly the catalog's Anthropic models available in the caller's region", async () => {
    const summaries = await listAnthropic("us-east-1");
    const expected = modelsIn("us-east-1").map((m) => m.bedrockModelId);
    expect(expected.length).toBeGreaterThan(0);
    expect(summaries.map((s) => s.modelId).sort()).toEqual([...expected].sort());
    expect(new Set(summaries.map((s) => s.modelId)).size).toBe(summaries.length);
    // Past its Bedrock end of life, Claude 3.5 Haiku is gone.
    expect(summaries.map((s) => s.modelId)).not.toContain("anthropic.claude-3-5-haiku-20241022-v1:0");
  });

  it("describes every summary with a foundation-model ARN of the region, the provider and a lifecycle", async () => {
    const summaries = await listAnthropic("us-east-1");
    for (const summary of summaries) {
      const model = catalog.models.find((m) => m.bedrockModelId === summary.modelId)!;
      expect(summary.modelArn).toBe(`arn:aws:bedrock:us-east-1::foundation-model/${summary.modelId}`);
      expect(summary.providerName).toBe("Anthropic");
      expect(summary.modelName).toBeTruthy();
      expect(summary.outputModalities).toContain("TEXT");
      expect(summary.inputModalities).toContain("TEXT");
      expect(summary.responseStreamingSupported).toBe(true);
      expect(summary.modelLifecycle?.status).toBe(model.lifecycle.status);
    }
  });

  it("hands lifecycle dates to the SDK as timestamps it parses into Dates", async () => {
    const summaries = await listAnthropic("us-east-1");
    const legacy = catalog.models.filter(
      (m) => m.lifecycle.legacySince && m.lifecycle.endOfLifeScope === "bedrock" && !pastEndOfLife(m),
    );
    expect(legacy.length).toBeGreaterThan(0);
    for (const model of legacy) {
      const lifecycle = summaries.find((s) => s.modelId === model.bedrockModelId)?.modelLifecycle;
      expect(lifecycle?.status, model.bedrockModelId).toBe("LEGACY");
      expect(lifecycle?.legacyTime, model.bedrockModelId).toBeInstanceOf(Date);
      expect(lifecycle?.legacyTime?.toISOString().slice(0, 10)).toBe(model.lifecycle.legacySince);
      expect(lifecycle?.endOfLifeTime?.toISOString().slice(0, 10)).toBe(model.lifecycle.endOfLife);
    }
  });

  it("puts INFERENCE_PROFILE, not ON_DEMAND, in inferenceTypesSupported of models that need a profile", async () => {
    const summaries = await listAnthropic("us-east-1");
    const needProfile = summaries.filter((s) => {
      const model = catalog.models.find((m) => m.bedrockModelId === s.modelId)!;
      return model.requiresInferenceProfile && !model.inRegions.includes("us-east-1");
    });
    expect(needProfile.map((s) => s.modelId)).toContain(SONNET_46_FOUNDATION);
    for (const summary of needProfile) {
      expect(summary.inferenceTypesSupported as string[]).toContain("INFERENCE_PROFILE");
      expect(summary.inferenceTypesSupported).not.toContain("ON_DEMAND");
    }
  });

  it("lists Sonnet 4.6 as ON_DEMAND in eu-west-2, where it is served in-region", async () => {
    const summaries = await listAnthropic("eu-west-2");
    expect(summaries.map((s) => s.modelId).sort()).toEqual(
      modelsIn("eu-west-2")
        .map((m) => m.bedrockModelId)
        .sort(),
    );
    const sonnet = summaries.find((s) => s.modelId === SONNET_46_FOUNDATION);
    expect(sonnet?.modelArn).toBe(`arn:aws:bedrock:eu-west-2::foundation-model/${SONNET_46_FOUNDATION}`);
    expect(sonnet?.inferenceTypesSupported).toContain("ON_DEMAND");
  });

  it("AccessDeniedException for an identity whose policy lacks bedrock:ListFoundationModels", async () => {
    const client = bedrock("us-east-1", READER);
    // The same identity may call an action its policy allows.
    const allowed = await client.send(
      new GetFoundationModelCommand({ modelIdentifier: SONNET_46_FOUNDATION }),
    );
    expect(allowed.modelDetails?.modelId).toBe(SONNET_46_FOUNDATION);

    const error = await rejectionOf(
      client.send(new ListFoundationModelsCommand({ byProvider: "Anthropic" })),
    );
    expect(error).toBeInstanceOf(AccessDeniedException);
    expect(error.name).toBe("AccessDeniedException");
    expect(error.$metadata.httpStatusCode).toBe(403);
    expect(error.message).toBe(
      `User: arn:aws:iam::${ACCOUNT}:user/reader is not authorized to perform: bedrock:ListFoundationModels because no identity-based policy allows the bedrock:ListFoundationModels action`,
    );
  });
});

describe("GetFoundationModel", () => {
  it("returns the model's details", async () => {
    const output = await bedrock().send(
      new GetFoundationModelCommand({ modelIdentifier: SONNET_46_FOUNDATION }),
    );
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(output.modelDetails).toMatchObject({
      modelId: SONNET_46_FOUNDATION,
      modelArn: `arn:aws:bedrock:us-east-1::foundation-model/${SONNET_46_FOUNDATION}`,
      providerName: "Anthropic",
      responseStreamingSupported: true,
      modelLifecycle: { status: "ACTIVE" },
    });
  });

  it("takes a foundation-model ARN as modelIdentifier", async () => {
    const arn = `arn:aws:bedrock:us-east-1::foundation-model/${SONNET_46_FOUNDATION}`;
    const output = await bedrock().send(new GetFoundationModelCommand({ modelIdentifier: arn }));
    expect(output.modelDetails?.modelId).toBe(SONNET_46_FOUNDATION);
    expect(output.modelDetails?.modelArn).toBe(arn);
  });

  it("refuses a model that does not exist with ValidationException", async () => {
    const error = await rejectionOf(
      bedrock().send(
        new GetFoundationModelCommand({ modelIdentifier: "anthropic.claude-does-not-exist-v1:0" }),
      ),
    );
    expect(error).toBeInstanceOf(ValidationException);
    expect(error.name).toBe("ValidationException");
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toBe("The provided model identifier is invalid.");
  });
});

describe("ListInferenceProfiles and GetInferenceProfile", () => {
  async function onePage(region = "us-east-1"): Promise<InferenceProfileSummary[]> {
    const output = await bedrock(region).send(
      new ListInferenceProfilesCommand({ typeEquals: "SYSTEM_DEFINED", maxResults: 1000 }),
    );
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(output.nextToken).toBeUndefined();
    return output.inferenceProfileSummaries ?? [];
  }

  it("lists the catalog's system-defined profiles callable from the region", async () => {
    const summaries = await onePage();
    expect(summaries.map((s) => s.inferenceProfileId).sort()).toEqual(
      profilesIn("us-east-1")
        .map((p) => p.id)
        .sort(),
    );
    for (const summary of summaries) {
      expect(summary.type).toBe("SYSTEM_DEFINED");
      expect(summary.status).toBe("ACTIVE");
      expect(summary.inferenceProfileName).toBeTruthy();
      expect(summary.createdAt).toBeInstanceOf(Date);
      expect(Number.isNaN(summary.createdAt!.getTime())).toBe(false);
      expect(summary.inferenceProfileArn).toBe(
        `arn:aws:bedrock:us-east-1:${ACCOUNT}:inference-profile/${summary.inferenceProfileId}`,
      );
    }
    expect(summaries.map((s) => s.inferenceProfileId)).not.toContain("eu.anthropic.claude-sonnet-4-6");
  });

  it("paginates with a small maxResults: all pages together equal one big page, without duplicates", async () => {
    const all = await onePage();
    const pageSize = 4;
    const pages: InferenceProfileSummary[][] = [];
    for await (const page of paginateListInferenceProfiles(
      { client: bedrock(), pageSize },
      { typeEquals: "SYSTEM_DEFINED" },
    )) {
      pages.push(page.inferenceProfileSummaries ?? []);
    }
    expect(pages.length).toBe(Math.ceil(all.length / pageSize));
    expect(pages.length).toBeGreaterThan(1);
    for (const page of pages) expect(page.length).toBeLessThanOrEqual(pageSize);
    const paged = pages.flat().map((s) => s.inferenceProfileId);
    expect(new Set(paged).size).toBe(paged.length);
    expect(paged).toEqual(all.map((s) => s.inferenceProfileId));
  });

  it("gives every profile models whose ARNs cover its geography's regions", async () => {
    const summaries = await onePage();
    for (const { id, model, geography } of profilesIn("us-east-1")) {
      const summary = summaries.find((s) => s.inferenceProfileId === id);
      expect(summary, id).toBeDefined();
      const arns = (summary!.models ?? []).map((m) => m.modelArn!);
      expect(new Set(arns).size, id).toBe(arns.length);
      const regions = arns.map((arn) => {
        const match = /^arn:aws:bedrock:([a-z0-9-]+)::foundation-model\/(.+)$/.exec(arn);
        expect(match, arn).not.toBeNull();
        expect(match![2], arn).toBe(model.bedrockModelId);
        return match![1]!;
      });
      expect([...regions].sort(), id).toEqual([...geography.sourceRegions].sort());
    }
  });

  it("gets one profile by id and the same by ARN", async () => {
    const client = bedrock();
    const byId = await client.send(
      new GetInferenceProfileCommand({ inferenceProfileIdentifier: SONNET_46_PROFILE }),
    );
    expect(byId.$metadata.httpStatusCode).toBe(200);
    expect(byId).toMatchObject({
      inferenceProfileId: SONNET_46_PROFILE,
      inferenceProfileArn: `arn:aws:bedrock:us-east-1:${ACCOUNT}:inference-profile/${SONNET_46_PROFILE}`,
      type: "SYSTEM_DEFINED",
      status: "ACTIVE",
    });
    expect(byId.models?.map((m) => m.modelArn)).toContain(
      `arn:aws:bedrock:us-east-1::foundation-model/${SONNET_46_FOUNDATION}`,
    );

    const byArn = await client.send(
      new GetInferenceProfileCommand({ inferenceProfileIdentifier: byId.inferenceProfileArn! }),
    );
    expect(byArn.$metadata.httpStatusCode).toBe(200);
    expect(byArn.inferenceProfileId).toBe(SONNET_46_PROFILE);
    expect(byArn.inferenceProfileArn).toBe(byId.inferenceProfileArn);
    expect(byArn.models).toEqual(byId.models);
  });
});

describe("GetFoundationModelAvailability", () => {
  it("AUTHORIZED for the default identity", async () => {
    const output = await bedrock().send(
      new GetFoundationModelAvailabilityCommand({ modelId: SONNET_46_FOUNDATION }),
    );
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(output).toMatchObject({
      modelId: SONNET_46_FOUNDATION,
      authorizationStatus: "AUTHORIZED",
      agreementAvailability: { status: "AVAILABLE" },
      entitlementAvailability: "AVAILABLE",
      regionAvailability: "AVAILABLE",
    });
  });

  it("NOT_AUTHORIZED for an identity without model access", async () => {
    const output = await bedrock("us-east-1", NO_ACCESS).send(
      new GetFoundationModelAvailabilityCommand({ modelId: SONNET_46_FOUNDATION }),
    );
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(output.modelId).toBe(SONNET_46_FOUNDATION);
    expect(output.authorizationStatus).toBe("NOT_AUTHORIZED");
    expect(output.regionAvailability).toBe("AVAILABLE");
  });
});
