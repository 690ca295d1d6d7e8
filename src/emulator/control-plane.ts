/**
 * Bedrock's control plane as the doctor and the catalog use it: ListFoundationModels,
 * GetFoundationModel, ListInferenceProfiles, GetInferenceProfile, GetFoundationModelAvailability.
 * All answers come from the shipped catalog, seen from the caller's region.
 */
import { type InferenceProfile, isPastBedrockEndOfLife, type ModelEntry } from "../models/catalog.js";
import { authenticate, type Principal } from "./auth.js";
import { EmulatorError } from "./errors.js";
import { awsErrorResponse, type EmulatorContext, jsonResponse, readIncoming } from "./http.js";
import { hasModelAccess, isActionAllowed } from "./identities.js";
import type { EmulatorState } from "./state.js";

const GEO_LABELS: Record<string, string> = {
  us: "US",
  eu: "EU",
  apac: "APAC",
  jp: "JP",
  au: "AU",
  "us-gov": "US-GOV",
  global: "Global",
};

function isoDate(day: string): string {
  return `${day}T00:00:00Z`;
}

function modelSummary(model: ModelEntry, region: string): Record<string, unknown> {
  const lifecycle: Record<string, unknown> = { status: model.lifecycle.status };
  if (model.lifecycle.legacySince) lifecycle.legacyTime = isoDate(model.lifecycle.legacySince);
  if (model.lifecycle.endOfLife && model.lifecycle.endOfLifeScope !== "anthropic-api") {
    lifecycle.endOfLifeTime = isoDate(model.lifecycle.endOfLife);
  }
  const inference: string[] = [];
  if (!model.requiresInferenceProfile || model.inRegions.includes(region)) inference.push("ON_DEMAND");
  // Observed: live answers use INFERENCE_PROFILE, a value outside the modelled enum.
  if (model.profiles.length > 0) inference.push("INFERENCE_PROFILE");
  return {
    modelArn: `arn:aws:bedrock:${region}::foundation-model/${model.bedrockModelId}`,
    modelId: model.bedrockModelId,
    modelName: model.modelName,
    providerName: "Anthropic",
    inputModalities: model.inputModalities,
    outputModalities: ["TEXT"],
    responseStreamingSupported: true,
    customizationsSupported: [],
    inferenceTypesSupported: inference,
    modelLifecycle: lifecycle,
  };
}

function profileSummary(profile: InferenceProfile, principal: Principal): Record<string, unknown> {
  const { geography, model } = profile;
  const label = GEO_LABELS[geography.prefix] ?? geography.prefix.toUpperCase();
  return {
    inferenceProfileName: `${label} Anthropic ${model.modelName}`,
    description: `Routes requests to Anthropic ${model.modelName} in ${geography.prefix === "global" ? "commercial AWS Regions" : `${label} Regions`}.`,
    createdAt: isoDate(model.sourceDate),
    updatedAt: isoDate(model.sourceDate),
    inferenceProfileArn: `arn:aws:bedrock:${principal.region}:${principal.identity.account}:inference-profile/${profile.id}`,
    models: geography.sourceRegions.map((region) => ({
      modelArn: `arn:aws:bedrock:${region}::foundation-model/${model.bedrockModelId}`,
    })),
    inferenceProfileId: profile.id,
    status: "ACTIVE",
    type: "SYSTEM_DEFINED",
  };
}

async function caller(c: EmulatorContext, state: EmulatorState, action: string): Promise<Principal> {
  const req = await readIncoming(c, 1024 * 1024);
  const principal = await authenticate(req, state, { services: ["bedrock"] });
  if (!isActionAllowed(principal.identity, action)) {
    throw new EmulatorError(
      "AccessDeniedException",
      `User: ${principal.identity.arn} is not authorized to perform: ${action} because no identity-based policy allows the ${action} action`,
      { frontDoor: true },
    );
  }
  return principal;
}

function visibleModels(state: EmulatorState, region: string): ModelEntry[] {
  const now = new Date(state.now());
  return state.catalog.models.filter(
    (m) => state.catalog.regionsOf(m).has(region) && !isPastBedrockEndOfLife(m, now),
  );
}

function findModel(state: EmulatorState, region: string, id: string): ModelEntry {
  const bare = /foundation-model\/(.+)$/.exec(id)?.[1] ?? id;
  const model = visibleModels(state, region).find((m) => m.bedrockModelId === bare);
  if (!model) throw new EmulatorError("ValidationException", "The provided model identifier is invalid.");
  return model;
}

async function handle(
  c: EmulatorContext,
  state: EmulatorState,
  action: string,
  answer: (principal: Principal) => unknown,
): Promise<Response> {
  const requestId = state.nextRequestId();
  const startedAt = state.now();
  let principal: Principal | undefined;
  try {
    principal = await caller(c, state, action);
    const body = answer(principal);
    record(state, requestId, startedAt, action, principal, 200, null);
    return jsonResponse(body, 200, { "x-amzn-requestid": requestId });
  } catch (error) {
    const known =
      error instanceof EmulatorError
        ? error
        : new EmulatorError("InternalServerException", "Internal server error");
    if (!(error instanceof EmulatorError)) console.error("[emulator] unexpected error:", error);
    record(state, requestId, startedAt, action, principal, known.status, known.exception);
    return awsErrorResponse(known, requestId);
  }
}

function record(
  state: EmulatorState,
  requestId: string,
  startedAt: number,
  action: string,
  principal: Principal | undefined,
  status: number,
  errorName: string | null,
): void {
  state.journal.record({
    time: new Date(startedAt).toISOString(),
    requestId,
    api: "control-plane",
    operation: action.replace(/^bedrock:/, ""),
    region: principal?.region ?? null,
    model: null,
    foundationModel: null,
    identity: principal?.identity.name ?? null,
    status,
    errorName,
    outcome: status === 200 ? "completed" : "error",
    stream: false,
    inputTokens: 0,
    outputTokens: 0,
    cacheReadInputTokens: 0,
    cacheWriteInputTokens: 0,
    latencyMs: state.now() - startedAt,
  });
}

export function listFoundationModels(c: EmulatorContext, state: EmulatorState): Promise<Response> {
  return handle(c, state, "bedrock:ListFoundationModels", (principal) => {
    const provider = c.req.query("byProvider");
    const inferenceType = c.req.query("byInferenceType");
    const outputModality = c.req.query("byOutputModality");
    const customization = c.req.query("byCustomizationType");
    const summaries = visibleModels(state, principal.region)
      .map((m) => modelSummary(m, principal.region))
      .filter((s) => !provider || String(s.providerName).toLowerCase() === provider.toLowerCase())
      .filter((s) => !inferenceType || (s.inferenceTypesSupported as string[]).includes(inferenceType))
      .filter((s) => !outputModality || (s.outputModalities as string[]).includes(outputModality))
      .filter((s) => !customization || (s.customizationsSupported as string[]).includes(customization));
    return { modelSummaries: summaries };
  });
}

export function getFoundationModel(c: EmulatorContext, state: EmulatorState): Promise<Response> {
  return handle(c, state, "bedrock:GetFoundationModel", (principal) => {
    const model = findModel(state, principal.region, c.req.param("modelId") ?? "");
    return { modelDetails: modelSummary(model, principal.region) };
  });
}

export function listInferenceProfiles(c: EmulatorContext, state: EmulatorState): Promise<Response> {
  return handle(c, state, "bedrock:ListInferenceProfiles", (principal) => {
    const type = c.req.query("type") ?? "SYSTEM_DEFINED";
    if (type !== "SYSTEM_DEFINED" && type !== "APPLICATION") {
      throw new EmulatorError(
        "ValidationException",
        `1 validation error detected: Value '${type}' at 'typeEquals' failed to satisfy constraint: Member must satisfy enum value set: [SYSTEM_DEFINED, APPLICATION]`,
      );
    }
    const now = new Date(state.now());
    const all =
      type === "APPLICATION"
        ? []
        : state.catalog.profilesIn(principal.region).filter((p) => !isPastBedrockEndOfLife(p.model, now));
    const maxResults = Math.min(Math.max(Number(c.req.query("maxResults") ?? 1000) || 1000, 1), 1000);
    const start = Number(Buffer.from(c.req.query("nextToken") ?? "", "base64url").toString() || "0");
    if (!Number.isInteger(start) || start < 0 || start > all.length) {
      throw new EmulatorError("ValidationException", "Invalid pagination token.");
    }
    const page = all.slice(start, start + maxResults).map((p) => profileSummary(p, principal));
    const end = start + maxResults;
    return {
      inferenceProfileSummaries: page,
      ...(end < all.length ? { nextToken: Buffer.from(String(end)).toString("base64url") } : {}),
    };
  });
}

export function getInferenceProfile(c: EmulatorContext, state: EmulatorState): Promise<Response> {
  return handle(c, state, "bedrock:GetInferenceProfile", (principal) => {
    const raw = c.req.param("profileId") ?? "";
    const id = /inference-profile\/(.+)$/.exec(raw)?.[1] ?? raw;
    const profile = state.catalog.profilesIn(principal.region).find((p) => p.id === id);
    if (!profile) {
      throw new EmulatorError("ResourceNotFoundException", `Inference profile ${id} does not exist.`);
    }
    return profileSummary(profile, principal);
  });
}

export function getFoundationModelAvailability(c: EmulatorContext, state: EmulatorState): Promise<Response> {
  return handle(c, state, "bedrock:GetFoundationModelAvailability", (principal) => {
    const id = c.req.param("modelId") ?? "";
    const model = state.catalog.byFoundationId(id);
    if (!model) throw new EmulatorError("ValidationException", "The provided model identifier is invalid.");
    const inRegion =
      state.catalog.regionsOf(model).has(principal.region) &&
      !isPastBedrockEndOfLife(model, new Date(state.now()));
    const granted = hasModelAccess(principal.identity, model);
    return {
      modelId: model.bedrockModelId,
      agreementAvailability: granted ? { status: "AVAILABLE" } : { status: "NOT_AVAILABLE" },
      authorizationStatus: granted ? "AUTHORIZED" : "NOT_AUTHORIZED",
      entitlementAvailability: granted ? "AVAILABLE" : "NOT_AVAILABLE",
      regionAvailability: inRegion ? "AVAILABLE" : "NOT_AVAILABLE",
    };
  });
}
