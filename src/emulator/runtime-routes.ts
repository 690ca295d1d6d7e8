/**
 * bedrock-runtime's model operations (InvokeModel, InvokeModelWithResponseStream, Converse,
 * ConverseStream, CountTokens),
 * the Anthropic-native Messages endpoint of bedrock-runtime and Mantle, and the Anthropic API's
 * own `/v1/messages`: each request shape is read, authenticated, resolved and validated here,
 * then answered by the shared core in `messages.ts`.
 */
import { type InferenceProfile, isPastBedrockEndOfLife, type ModelEntry } from "../models/catalog.js";
import { type AuthOptions, authenticate, type Principal } from "./auth.js";
import { DEFAULT_ANTHROPIC_API_KEY } from "./config.js";
import { converseRules, translateConverseRequest } from "./converse-request.js";
import { EmulatorError } from "./errors.js";
import {
  anthropicErrorResponse,
  awsErrorResponse,
  type EmulatorContext,
  jsonResponse,
  readIncoming,
} from "./http.js";
import { hasModelAccess, isActionAllowed, isModelAllowed } from "./identities.js";
import type { Api } from "./journal.js";
import { answerMessages, type Encoding, type MessagesCall } from "./messages.js";
import { inputTokens } from "./prompt-cache.js";
import type { EmulatorState } from "./state.js";
import { type MessagesBody, parseJsonObject, validateMessagesBody } from "./validate.js";

const INVALID_MODEL = "The provided model identifier is invalid.";
/** The Anthropic API refuses request bodies over 32 MB with 413 request_too_large. */
const ANTHROPIC_BODY_LIMIT = 32 * 1024 * 1024;
const anthropicTooLarge = () =>
  new EmulatorError("RequestEntityTooLargeException", "Request exceeds the maximum allowed number of bytes.");

interface Attempt {
  api: Api;
  operation: string;
  requestId: string;
  startedAt: number;
  region: string | null;
  model: string | null;
  identity: string | null;
}

function begin(state: EmulatorState, api: Api, operation: string): Attempt {
  return {
    api,
    operation,
    requestId: state.nextRequestId(),
    startedAt: state.now(),
    region: null,
    model: null,
    identity: null,
  };
}

/** Journals a request that bills nothing (a refusal, a token count). */
function journalUnbilled(
  state: EmulatorState,
  attempt: Attempt,
  outcome: { status: number; errorName: string | null; foundationModel: string | null },
): void {
  state.journal.record({
    time: new Date(attempt.startedAt).toISOString(),
    requestId: attempt.requestId,
    api: attempt.api,
    operation: attempt.operation,
    region: attempt.region,
    model: attempt.model,
    foundationModel: outcome.foundationModel,
    identity: attempt.identity,
    status: outcome.status,
    errorName: outcome.errorName,
    outcome: outcome.status >= 400 ? "error" : "completed",
    stream: false,
    inputTokens: 0,
    outputTokens: 0,
    cacheReadInputTokens: 0,
    cacheWriteInputTokens: 0,
    latencyMs: state.now() - attempt.startedAt,
  });
}

/** Records a request refused before it became a call (auth, resolution, validation). */
function refuse(state: EmulatorState, attempt: Attempt, error: unknown): Response {
  const known =
    error instanceof EmulatorError
      ? error
      : new EmulatorError(
          "InternalServerException",
          "The system encountered an unexpected error during processing. Try your request again.",
        );
  if (!(error instanceof EmulatorError)) console.error("[emulator] unexpected error:", error);
  journalUnbilled(state, attempt, {
    status: known.status,
    errorName: known.exception,
    foundationModel: null,
  });
  return attempt.api === "bedrock-runtime"
    ? awsErrorResponse(known, attempt.requestId)
    : anthropicErrorResponse(known, attempt.requestId, attempt.api !== "anthropic");
}

/**
 * The model id of the path. It arrives encoded, `:` as `%3A` (botocore) or raw (Anthropic SDKs)
 * and `/` as `%2F` (ARNs); the router matched on the raw path, so `%2F` stayed inside the segment,
 * and Hono hands the parameter over decoded.
 */
function modelParam(c: EmulatorContext): string {
  const id = c.req.param("modelId") ?? "";
  if (!id) throw new EmulatorError("ValidationException", INVALID_MODEL);
  return id;
}

function resourceArn(principal: Principal, model: ModelEntry, profile?: InferenceProfile): string {
  return profile
    ? `arn:aws:bedrock:${principal.region}:${principal.identity.account}:inference-profile/${profile.id}`
    : `arn:aws:bedrock:${principal.region}::foundation-model/${model.bedrockModelId}`;
}

function notAuthorized(principal: Principal, action: string, arn: string): EmulatorError {
  return new EmulatorError(
    "AccessDeniedException",
    `User: ${principal.identity.arn} is not authorized to perform: ${action} on resource: ${arn} because no identity-based policy allows the ${action} action`,
    { frontDoor: true },
  );
}

interface ResolveOptions {
  action: string;
  /** CountTokens takes foundation ids only. */
  foundationOnly?: boolean;
  /** Mantle serves dateless foundation ids only, in its own regions. */
  mantle?: boolean;
}

/** Resolves the requested model for the caller's region and checks the caller may invoke it. */
function resolveModel(
  state: EmulatorState,
  principal: Principal,
  modelId: string,
  options: ResolveOptions,
): ModelEntry {
  let model: ModelEntry | undefined;
  let profile: InferenceProfile | undefined;
  if (options.mantle) {
    model = state.catalog.byFoundationId(modelId);
    if (!model || !state.catalog.servedByMantle(model, principal.region)) {
      throw new EmulatorError("ResourceNotFoundException", `model: ${modelId} does not exist`);
    }
  } else {
    const resolved = state.catalog.resolveModelId(modelId, principal.region);
    if (!resolved) throw new EmulatorError("ValidationException", INVALID_MODEL);
    if (options.foundationOnly && resolved.kind !== "foundation-model") {
      throw new EmulatorError("ValidationException", "The provided model doesn't support counting tokens.");
    }
    model = resolved.model;
    profile = resolved.kind === "inference-profile" ? resolved.profile : undefined;
  }
  const arn = resourceArn(principal, model, profile);
  if (
    !isActionAllowed(principal.identity, options.action) ||
    !isModelAllowed(principal.identity, model, modelId)
  ) {
    throw notAuthorized(principal, options.action, arn);
  }
  if (!hasModelAccess(principal.identity, model)) {
    throw new EmulatorError(
      "AccessDeniedException",
      "You don't have access to the model with the specified model ID.",
    );
  }
  if (isPastBedrockEndOfLife(model, new Date(state.now()))) {
    throw new EmulatorError("ResourceNotFoundException", state.rules.endOfLife.message);
  }
  const onDemand = !profile && !options.mantle && !options.foundationOnly;
  if (onDemand && model.requiresInferenceProfile && !model.inRegions.includes(principal.region)) {
    throw new EmulatorError(
      "ValidationException",
      `Invocation of model ID ${model.bedrockModelId} with on-demand throughput isn\u2019t supported. Retry your request with the ID or ARN of an inference profile that contains this model.`,
    );
  }
  return model;
}

function splitBetas(header: string | undefined): string[] {
  return header
    ? header
        .split(",")
        .map((b) => b.trim())
        .filter(Boolean)
    : [];
}

function validate(
  state: EmulatorState,
  raw: Record<string, unknown>,
  model: ModelEntry,
  shape: "invoke" | "messages",
  headers: Record<string, string>,
  anthropicApi = false,
): MessagesBody {
  return validateMessagesBody(raw, {
    anthropicApi,
    shape,
    model,
    rules: state.rules,
    betas: state.betas,
    extraDeniedBetas: state.config.deniedBetas,
    headerBetas: shape === "messages" ? splitBetas(headers["anthropic-beta"]) : undefined,
    headerVersion: shape === "messages" ? headers["anthropic-version"] : undefined,
  });
}

function callFrom(
  c: EmulatorContext,
  attempt: Attempt,
  principal: Principal | null,
  model: ModelEntry,
  body: MessagesBody,
  encoding: Encoding,
): MessagesCall {
  return {
    api: attempt.api,
    operation: attempt.operation,
    region: attempt.region ?? "anthropic",
    requestedModel: attempt.model ?? model.anthropicName,
    model,
    account: principal?.identity.account ?? "anthropic",
    identity: attempt.identity,
    body,
    encoding,
    requestId: attempt.requestId,
    startedAt: attempt.startedAt,
    bindings: c.env,
  };
}

/**
 * A bedrock-runtime request read and authenticated, with its region, identity and model noted
 * on the attempt (so that a refusal after this point is journaled with them).
 */
async function runtimeCaller(c: EmulatorContext, state: EmulatorState, attempt: Attempt) {
  const req = await readIncoming(c, state.rules.invokeModelBodyLimitBytes);
  const principal = await authenticate(req, state, { services: ["bedrock"] });
  attempt.region = principal.region;
  attempt.identity = principal.identity.name;
  const modelId = modelParam(c);
  attempt.model = modelId;
  return { req, principal, modelId };
}

/** `POST /model/{modelId}/invoke` and `/invoke-with-response-stream`. */
export async function invokeModel(
  c: EmulatorContext,
  state: EmulatorState,
  stream: boolean,
): Promise<Response> {
  const operation = stream ? "InvokeModelWithResponseStream" : "InvokeModel";
  const attempt = begin(state, "bedrock-runtime", operation);
  try {
    const { req, principal, modelId } = await runtimeCaller(c, state, attempt);
    const model = resolveModel(state, principal, modelId, { action: `bedrock:${operation}` });
    const body = validate(state, parseJsonObject(req.body), model, "invoke", req.headers);
    return await answerMessages(
      state,
      callFrom(c, attempt, principal, model, body, stream ? "eventstream" : "json"),
    );
  } catch (error) {
    return refuse(state, attempt, error);
  }
}

/**
 * `POST /model/{modelId}/converse` and `/converse-stream`: Converse's shape, translated to the
 * InvokeModel body and answered by the same core. IAM knows no Converse actions: it authorises
 * them as `bedrock:InvokeModel` and `bedrock:InvokeModelWithResponseStream`.
 */
export async function converse(c: EmulatorContext, state: EmulatorState, stream: boolean): Promise<Response> {
  const operation = stream ? "ConverseStream" : "Converse";
  const attempt = begin(state, "bedrock-runtime", operation);
  try {
    const { req, principal, modelId } = await runtimeCaller(c, state, attempt);
    const action = stream ? "bedrock:InvokeModelWithResponseStream" : "bedrock:InvokeModel";
    const model = resolveModel(state, principal, modelId, { action });
    const rules = converseRules();
    const translated = translateConverseRequest(parseJsonObject(req.body), model, rules);
    let body: MessagesBody;
    try {
      body = validate(state, translated.body, model, "invoke", req.headers);
    } catch (error) {
      // What the model layer refuses, Converse passes on behind its own preface.
      if (error instanceof EmulatorError && error.exception === "ValidationException") {
        throw new EmulatorError(
          "ValidationException",
          `${rules.messages.modelLayerPrefix.text}${error.message}`,
          {
            hint: error.hint,
          },
        );
      }
      throw error;
    }
    return await answerMessages(state, {
      ...callFrom(c, attempt, principal, model, body, stream ? "converse-stream" : "converse"),
      responseFieldPaths: translated.responseFieldPaths,
    });
  } catch (error) {
    return refuse(state, attempt, error);
  }
}

/** `POST /model/{modelId}/count-tokens`: `{"input": {"invokeModel": {"body": base64}}}`. */
export async function countTokensBedrock(c: EmulatorContext, state: EmulatorState): Promise<Response> {
  const attempt = begin(state, "bedrock-runtime", "CountTokens");
  try {
    const { req, principal, modelId } = await runtimeCaller(c, state, attempt);
    const model = resolveModel(state, principal, modelId, {
      action: "bedrock:CountTokens",
      foundationOnly: true,
    });
    const outer = parseJsonObject(req.body);
    const input = outer.input as { invokeModel?: { body?: unknown }; converse?: unknown } | undefined;
    if (
      typeof input !== "object" ||
      input === null ||
      (input.invokeModel === undefined && input.converse === undefined)
    ) {
      throw new EmulatorError(
        "ValidationException",
        "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must not be null",
      );
    }
    if (typeof input.invokeModel !== "object" || input.invokeModel === null) {
      throw new EmulatorError(
        "ValidationException",
        "The emulator counts tokens of `invokeModel` input only.",
      );
    }
    const encoded = input.invokeModel.body;
    if (typeof encoded !== "string")
      throw new EmulatorError(
        "ValidationException",
        "Malformed input request: #/input/invokeModel/body: expected type: String",
      );
    const inner = parseJsonObject(Buffer.from(encoded, "base64"));
    const body = validate(state, inner, model, "invoke", req.headers);
    const count = inputTokens(body);
    journalUnbilled(state, attempt, { status: 200, errorName: null, foundationModel: model.bedrockModelId });
    return jsonResponse({ inputTokens: count }, 200, { "x-amzn-requestid": attempt.requestId });
  } catch (error) {
    return refuse(state, attempt, error);
  }
}

/**
 * `POST /anthropic/v1/messages`: signed with `bedrock` it is bedrock-runtime's native Messages
 * API; signed with `bedrock-mantle` (or a Bearer key on a host that is not bedrock-runtime's) it
 * is Mantle, which answers auth failures with 401 and takes dateless foundation ids only.
 */
export async function nativeMessages(c: EmulatorContext, state: EmulatorState): Promise<Response> {
  const authorization = c.req.header("authorization") ?? "";
  const host = c.req.header("host") ?? "";
  const mantle =
    authorization.includes("/bedrock-mantle/aws4_request") ||
    (!authorization.includes("/bedrock/aws4_request") && !host.startsWith("bedrock-runtime"));
  const api: Api = mantle ? "bedrock-mantle" : "bedrock-native";
  const attempt = begin(state, api, "CreateMessage");
  try {
    const req = await readIncoming(c, state.rules.invokeModelBodyLimitBytes);
    const auth: AuthOptions = mantle
      ? { services: ["bedrock-mantle", "bedrock"], status: 401 }
      : { services: ["bedrock"] };
    const principal = await authenticate(req, state, auth);
    attempt.region = principal.region;
    attempt.identity = principal.identity.name;
    const raw = parseJsonObject(req.body);
    if (typeof raw.model !== "string")
      throw new EmulatorError("ValidationException", "model: Field required");
    attempt.model = raw.model;
    if (mantle && !req.headers["anthropic-version"] && raw.anthropic_version === undefined) {
      throw new EmulatorError("ValidationException", "anthropic-version: header is required");
    }
    const action = mantle
      ? "bedrock-mantle:CreateInference"
      : raw.stream
        ? "bedrock:InvokeModelWithResponseStream"
        : "bedrock:InvokeModel";
    const model = resolveModel(state, principal, raw.model, { action, mantle });
    const body = validate(state, raw, model, "messages", req.headers);
    return await answerMessages(
      state,
      callFrom(c, attempt, principal, model, body, body.stream ? "sse" : "json"),
    );
  } catch (error) {
    return refuse(state, attempt, error);
  }
}

function anthropicAuth(state: EmulatorState, headers: Record<string, string>): void {
  const key = headers["x-api-key"] ?? headers.authorization?.replace(/^Bearer\s+/i, "");
  const known = new Set([DEFAULT_ANTHROPIC_API_KEY, ...state.config.anthropicApiKeys]);
  if (!key) throw new EmulatorError("UnrecognizedClientException", "x-api-key header is required");
  if (!known.has(key)) throw new EmulatorError("UnrecognizedClientException", "invalid x-api-key");
  if (!headers["anthropic-version"])
    throw new EmulatorError("ValidationException", "anthropic-version: header is required");
}

function anthropicModel(state: EmulatorState, raw: Record<string, unknown>): ModelEntry {
  if (typeof raw.model !== "string") throw new EmulatorError("ValidationException", "model: Field required");
  const model = state.catalog.byName(raw.model);
  if (!model) throw new EmulatorError("ResourceNotFoundException", `model: ${raw.model}`);
  return model;
}

/** The Anthropic API's own `POST /v1/messages` (`x-api-key`), for the `anthropic` provider. */
export async function anthropicMessages(c: EmulatorContext, state: EmulatorState): Promise<Response> {
  const attempt = begin(state, "anthropic", "CreateMessage");
  try {
    const req = await readIncoming(c, ANTHROPIC_BODY_LIMIT, anthropicTooLarge);
    anthropicAuth(state, req.headers);
    attempt.identity = "anthropic-api-key";
    const raw = parseJsonObject(req.body);
    const model = anthropicModel(state, raw);
    attempt.model = raw.model as string;
    const body = validate(state, raw, model, "messages", req.headers, true);
    return await answerMessages(state, callFrom(c, attempt, null, model, body, body.stream ? "sse" : "json"));
  } catch (error) {
    return refuse(state, attempt, error);
  }
}

/** The Anthropic API's `POST /v1/messages/count_tokens`. */
export async function anthropicCountTokens(c: EmulatorContext, state: EmulatorState): Promise<Response> {
  const attempt = begin(state, "anthropic", "CountTokens");
  try {
    const req = await readIncoming(c, ANTHROPIC_BODY_LIMIT, anthropicTooLarge);
    anthropicAuth(state, req.headers);
    const raw = parseJsonObject(req.body);
    const model = anthropicModel(state, raw);
    // count_tokens takes a Messages body without max_tokens.
    attempt.identity = "anthropic-api-key";
    attempt.model = raw.model as string;
    const body = validate(state, { max_tokens: 1, ...raw }, model, "messages", req.headers, true);
    journalUnbilled(state, attempt, { status: 200, errorName: null, foundationModel: model.bedrockModelId });
    return jsonResponse({ input_tokens: inputTokens(body) }, 200, { "request-id": attempt.requestId });
  } catch (error) {
    return refuse(state, attempt, error);
  }
}
