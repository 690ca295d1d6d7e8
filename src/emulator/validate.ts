/**
 * Validation of Anthropic Messages bodies as Bedrock (and the Anthropic API) refuse them.
 *
 * Two layers, as on the real service: Bedrock's JSON-schema layer answers
 * `Malformed input request: #: ...` (required keys, extraneous `model`/`stream`, wrong types at the
 * top), then the model layer answers in the Anthropic API's words (`max_tokens: ...`,
 * `messages.0.content: ...`, `foo: Extra inputs are not permitted`).
 */
import { z } from "zod";
import type { ModelEntry } from "../models/catalog.js";
import { globMatch } from "../util/glob.js";
import { EmulatorError, malformed } from "./errors.js";
import type { BetaRules, EmulatorRules } from "./rules.js";

const cacheControl = z.object({ type: z.literal("ephemeral"), ttl: z.enum(["5m", "1h"]).optional() }).loose();

const textBlock = z
  .object({ type: z.literal("text"), text: z.string(), cache_control: cacheControl.optional() })
  .loose();

const contentBlock = z
  .object({ type: z.string().min(1), cache_control: cacheControl.nullish() })
  .loose()
  .superRefine((block, ctx) => {
    const b = block as Record<string, unknown>;
    const isObject = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
    const need = (field: string, kind: "string" | "object") => {
      if (kind === "string" ? typeof b[field] !== "string" : !isObject(b[field])) {
        const what = kind === "string" ? "string" : "dictionary";
        const message = b[field] === undefined ? "Field required" : `Input should be a valid ${what}`;
        ctx.addIssue({ code: "custom", path: [field], message });
      }
    };
    const optional = (field: string, ok: (v: unknown) => boolean, what: string) => {
      if (b[field] !== undefined && !ok(b[field])) {
        ctx.addIssue({ code: "custom", path: [field], message: `Input should be a valid ${what}` });
      }
    };
    switch (block.type) {
      case "text":
        need("text", "string");
        break;
      case "image":
      case "document": {
        need("source", "object");
        const source = b.source as Record<string, unknown> | undefined;
        if (isObject(source)) {
          if (typeof source!.type !== "string")
            ctx.addIssue({ code: "custom", path: ["source", "type"], message: "Field required" });
          if (source!.data !== undefined && typeof source!.data !== "string" && source!.type !== "content") {
            ctx.addIssue({
              code: "custom",
              path: ["source", "data"],
              message: "Input should be a valid string",
            });
          }
        }
        break;
      }
      case "tool_use":
      case "server_tool_use":
        need("id", "string");
        need("name", "string");
        need("input", "object");
        break;
      case "tool_result":
        need("tool_use_id", "string");
        optional("content", (v) => typeof v === "string" || Array.isArray(v), "string or list");
        optional("is_error", (v) => typeof v === "boolean", "boolean");
        break;
      case "thinking":
        need("thinking", "string");
        need("signature", "string");
        break;
      case "redacted_thinking":
        need("data", "string");
        break;
    }
  });

const message = z
  .object({
    role: z.enum(["user", "assistant"]),
    content: z.union([z.string(), z.array(contentBlock)]),
  })
  .loose();

const tool = z
  .object({
    name: z.string().min(1).max(128),
    description: z.string().optional(),
    input_schema: z.record(z.string(), z.unknown()).optional(),
  })
  .loose()
  .refine((t) => (t as { type?: unknown }).type !== undefined || t.input_schema !== undefined, {
    message: "Field required",
    path: ["input_schema"],
  });

const toolChoice = z.discriminatedUnion("type", [
  z.object({ type: z.literal("auto"), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal("any"), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal("none") }),
  z.object({ type: z.literal("tool"), name: z.string(), disable_parallel_tool_use: z.boolean().optional() }),
]);

const thinking = z.discriminatedUnion("type", [
  z.object({ type: z.literal("enabled"), budget_tokens: z.number().int().min(1024) }).loose(),
  z.object({ type: z.literal("disabled") }),
  z.object({ type: z.literal("adaptive") }).loose(),
]);

const messagesBody = z
  .object({
    max_tokens: z.number().int().min(1),
    messages: z.array(message).min(1),
    system: z.union([z.string(), z.array(textBlock)]).optional(),
    stop_sequences: z.array(z.string()).optional(),
    temperature: z.number().min(0).max(1).optional(),
    top_p: z.number().min(0).max(1).optional(),
    top_k: z.number().int().min(0).optional(),
    tools: z.array(tool).optional(),
    tool_choice: toolChoice.optional(),
    thinking: thinking.optional(),
    metadata: z
      .object({ user_id: z.string().max(256).nullish() })
      .loose()
      .optional(),
    anthropic_beta: z.array(z.string()).optional(),
    anthropic_version: z.string().optional(),
    output_config: z.record(z.string(), z.unknown()).optional(),
    output_format: z.record(z.string(), z.unknown()).nullish(),
    context_management: z.record(z.string(), z.unknown()).nullish(),
    container: z.union([z.string(), z.record(z.string(), z.unknown())]).nullish(),
    mcp_servers: z.array(z.record(z.string(), z.unknown())).optional(),
    service_tier: z.enum(["auto", "standard_only"]).optional(),
    inference_geo: z.string().optional(),
    stream: z.boolean().optional(),
    model: z.string().optional(),
  })
  .loose();

export type MessagesBody = z.output<typeof messagesBody>;
export type ContentBlock = z.output<typeof contentBlock> & Record<string, unknown>;
export type MessageParam = z.output<typeof message>;

/** Fields the schema types as integers (zod reports them as numbers). */
const INTEGER_FIELDS = new Set(["max_tokens", "top_k", "budget_tokens"]);

const SCHEMA_TYPE_NAMES: Record<string, string> = {
  string: "String",
  number: "Number",
  int: "Integer",
  boolean: "Boolean",
  array: "JSONArray",
  object: "JSONObject",
  record: "JSONObject",
};

/** The model layer's words (the Anthropic API's, pydantic-style). */
function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.join(".");
  let text = issue.message;
  if (issue.code === "invalid_type") {
    text =
      issue.input === undefined
        ? "Field required"
        : `Input should be a valid ${issue.expected === "int" ? "integer" : issue.expected}`;
  } else if (issue.code === "too_small" && issue.origin === "array") {
    text = `List should have at least ${issue.minimum} item${issue.minimum === 1 ? "" : "s"} after validation`;
  } else if (issue.code === "too_small" && issue.origin === "number") {
    text = `Input should be greater than or equal to ${issue.minimum}`;
  } else if (issue.code === "too_big" && issue.origin === "number") {
    text = `Input should be less than or equal to ${issue.maximum}`;
  } else if (issue.code === "invalid_value") {
    text = `Input should be ${issue.values.map((v) => `'${String(v)}'`).join(" or ")}`;
  } else if (issue.code === "invalid_union") {
    text = "Input tag or shape is not one of the expected";
  }
  return path ? `${path}: ${text}` : text;
}

/**
 * Bedrock's schema layer (a JSON-schema validator) words type and count errors of InvokeModel
 * bodies itself: `#/max_tokens: expected type: Integer, found: String`.
 */
function schemaLayerProblem(issue: z.core.$ZodIssue): string | undefined {
  const pointer = `#/${issue.path.join("/")}`;
  if (issue.code === "invalid_type" && issue.input !== undefined) {
    const field = String(issue.path[issue.path.length - 1]);
    const expected = issue.expected === "number" && INTEGER_FIELDS.has(field) ? "int" : issue.expected;
    return `${pointer}: expected type: ${SCHEMA_TYPE_NAMES[expected] ?? expected}, found: ${jsonType(issue.input)}`;
  }
  if (issue.code === "too_small" && issue.origin === "array" && issue.path.length === 1) {
    return `${pointer}: expected minimum item count: ${issue.minimum}, found: ${(issue.input as unknown[] | undefined)?.length ?? 0}`;
  }
  return undefined;
}

function jsonType(value: unknown): string {
  if (value === null) return "Null";
  if (Array.isArray(value)) return "JSONArray";
  if (typeof value === "object") return "JSONObject";
  if (typeof value === "number") return Number.isInteger(value) ? "Integer" : "BigDecimal";
  if (typeof value === "boolean") return "Boolean";
  return "String";
}

/** Nesting deeper than this is refused (the default limit of Jackson, the JSON parser of AWS's Java services). */
const MAX_DEPTH = 1000;

/** Depth of a parsed JSON value, without recursion (a hostile body must not exhaust the stack). */
function depthOf(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (typeof item !== "object" || item === null) continue;
    if (depth > max) max = depth;
    if (max > MAX_DEPTH) return max;
    for (const child of Object.values(item))
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
  }
  return max;
}

/** Parses a request body as JSON; a body that is not an object is refused as Bedrock does. */
export function parseJsonObject(raw: Uint8Array): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw).toString("utf8"));
  } catch {
    throw malformed("#: expected type: JSONObject, found: String");
  }
  if (depthOf(parsed) > MAX_DEPTH) throw malformed(`#: nesting depth exceeds the maximum of ${MAX_DEPTH}`);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw malformed(`#: expected type: JSONObject, found: ${jsonType(parsed)}`);
  }
  return parsed as Record<string, unknown>;
}

export interface ValidationContext {
  /** `invoke` for InvokeModel bodies, `messages` for the Anthropic-native `/v1/messages`. */
  shape: "invoke" | "messages";
  model: ModelEntry;
  rules: EmulatorRules;
  betas: BetaRules;
  extraDeniedBetas: readonly string[];
  /** Betas from the `anthropic-beta` header (native endpoints), beside the body's. */
  headerBetas?: string[];
  /** anthropic-version from the header (native endpoints). */
  headerVersion?: string;
  /** The Anthropic API's own endpoint (not Bedrock's). */
  anthropicApi?: boolean;
}

function isAcceptedVersion(version: string, rules: EmulatorRules): boolean {
  const { bedrock, datedPattern, datedMinimum } = rules.anthropicVersions;
  if (bedrock.includes(version)) return true;
  return new RegExp(datedPattern).test(version) && version >= datedMinimum;
}

/** Checks beta flags: malformed or denied flags get Bedrock's `invalid beta flag`. */
export function checkBetas(
  flags: readonly string[],
  ctx: Pick<ValidationContext, "betas" | "extraDeniedBetas">,
): void {
  const pattern = new RegExp(ctx.betas.flagPattern);
  const denied = new Set([...ctx.betas.denied.map((d) => d.flag), ...ctx.extraDeniedBetas]);
  for (const flag of flags) {
    if (!pattern.test(flag) || denied.has(flag)) {
      // Bedrock does not name the flag (captured answers); the emulator says which in a header.
      throw new EmulatorError("ValidationException", "invalid beta flag", {
        hint: `refused beta flag: ${flag}`,
      });
    }
  }
}

/**
 * Validates a Messages body for `ctx.model`. Throws an EmulatorError (ValidationException) worded
 * as Bedrock words it; returns the typed body.
 */
export function validateMessagesBody(body: Record<string, unknown>, ctx: ValidationContext): MessagesBody {
  const schemaProblems: string[] = [];
  if (ctx.shape === "invoke") {
    for (const key of ["anthropic_version", "max_tokens", "messages"]) {
      if (!(key in body)) schemaProblems.push(`#: required key [${key}] not found`);
    }
    for (const key of ctx.rules.invokeBodyFields.schemaRejected) {
      if (key in body) schemaProblems.push(`#: extraneous key [${key}] is not permitted`);
    }
    if (schemaProblems.length > 0) throw malformed(schemaProblems.join(""));
  }
  const accepted = new Set(
    ctx.shape === "invoke" ? ctx.rules.invokeBodyFields.accepted : ctx.rules.messagesApiFields.accepted,
  );
  for (const key of Object.keys(body)) {
    if (!accepted.has(key))
      throw new EmulatorError("ValidationException", `${key}: Extra inputs are not permitted`);
  }
  const version = (body.anthropic_version as string | undefined) ?? ctx.headerVersion;
  if (version !== undefined && (typeof version !== "string" || !isAcceptedVersion(version, ctx.rules))) {
    throw new EmulatorError("ValidationException", `Invalid API version: ${String(version)}`);
  }
  const parsed = messagesBody.safeParse(body, { reportInput: true });
  if (!parsed.success) {
    if (ctx.shape === "invoke") {
      const problems = parsed.error.issues
        .map(schemaLayerProblem)
        .filter((p): p is string => p !== undefined);
      if (problems.length > 0) throw malformed(problems.join(""));
    }
    const issues = parsed.error.issues;
    if (issues.some((i) => i.code === "too_small" && i.path.join(".") === "messages")) {
      throw new EmulatorError("ValidationException", "messages: at least one message is required");
    }
    throw new EmulatorError("ValidationException", issues.map(describeIssue).join("; "));
  }
  const request = parsed.data;
  const betas = [...(request.anthropic_beta ?? []), ...(ctx.headerBetas ?? [])];
  if (ctx.anthropicApi) {
    // Bedrock's deny list is Bedrock's; the Anthropic API refuses only what is not a beta name at all.
    const pattern = new RegExp(ctx.betas.flagPattern);
    const bad = betas.filter((flag) => !pattern.test(flag));
    if (bad.length > 0) {
      throw new EmulatorError(
        "ValidationException",
        `Unexpected value(s) \`${bad.join(", ")}\` for the \`anthropic-beta\` header. Please consult our documentation at docs.claude.com or try again without the header.`,
      );
    }
  } else checkBetas(betas, ctx);

  const { model } = ctx;
  if (request.max_tokens > model.maxOutputTokens) {
    throw new EmulatorError(
      "ValidationException",
      `max_tokens: ${request.max_tokens} > ${model.maxOutputTokens}, which is the maximum allowed number of output tokens for ${model.anthropicName}`,
    );
  }
  if (request.messages[0]?.role !== "user") {
    throw new EmulatorError("ValidationException", 'messages: first message must use the "user" role');
  }
  request.messages.forEach((m, i) => {
    if (Array.isArray(m.content) && m.content.length === 0 && i !== request.messages.length - 1) {
      throw new EmulatorError(
        "ValidationException",
        `messages.${i}.content: List should have at least 1 item after validation`,
      );
    }
    if (
      typeof m.content === "string" &&
      m.content.length === 0 &&
      !(m.role === "assistant" && i === request.messages.length - 1)
    ) {
      throw new EmulatorError(
        "ValidationException",
        `messages.${i}: all messages must have non-empty content except for the optional final assistant message`,
      );
    }
  });
  const last = request.messages[request.messages.length - 1]!;
  if (last.role === "assistant") {
    const text = typeof last.content === "string" ? last.content : "";
    if (/\s$/.test(text)) {
      throw new EmulatorError(
        "ValidationException",
        "messages: final assistant content cannot end with trailing whitespace",
      );
    }
  }
  if (
    request.temperature !== undefined &&
    request.top_p !== undefined &&
    ctx.rules.exclusiveSamplingModels.patterns.some((p) => globMatch(p, model.anthropicName))
  ) {
    throw new EmulatorError("ValidationException", ctx.rules.exclusiveSamplingModels.message);
  }
  if (request.thinking?.type === "enabled") {
    if (!model.supportsThinking) {
      throw new EmulatorError(
        "ValidationException",
        `thinking: ${model.anthropicName} does not support extended thinking`,
      );
    }
    if (request.thinking.budget_tokens >= request.max_tokens) {
      throw new EmulatorError(
        "ValidationException",
        "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size",
      );
    }
    if (request.temperature !== undefined && request.temperature !== 1) {
      throw new EmulatorError(
        "ValidationException",
        "`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility",
      );
    }
  }
  const choice = request.tool_choice;
  if (choice?.type === "tool" && !request.tools?.some((t) => t.name === choice.name)) {
    throw new EmulatorError(
      "ValidationException",
      `tool_choice: tool '${choice.name}' was not found in the list of tools`,
    );
  }
  return request;
}
