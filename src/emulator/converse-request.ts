/**
 * Converse's request shape, read and translated into the Anthropic Messages body that InvokeModel
 * takes, so that one core answers both. Bedrock does the same translation for Anthropic models;
 * problems Converse itself finds are worded as Converse words them (`data/bedrock-converse.json`),
 * and what only the model layer finds is left to the Messages validator (see `converse` in
 * `runtime-routes.ts`).
 */
import type { ModelEntry } from "../models/catalog.js";
import { readDataFile } from "../util/data-file.js";
import { EmulatorError } from "./errors.js";

interface Rule {
  text: string;
}

export interface ConverseRules {
  defaultMaxTokens: { value: number };
  messages: {
    firstMessageNotUser: Rule;
    emptyContent: Rule;
    blankText: Rule;
    maxTokensOverLimit: Rule;
    modelLayerPrefix: Rule;
  };
}

let cached: ConverseRules | undefined;

export function converseRules(): ConverseRules {
  cached ??= readDataFile<ConverseRules>("bedrock-converse.json");
  return cached;
}

export interface ConverseTranslation {
  /** An InvokeModel body (with `anthropic_version`), for `validateMessagesBody`. */
  body: Record<string, unknown>;
  /** `additionalModelResponseFieldPaths`: JSON pointers into the model's answer to hand back. */
  responseFieldPaths: string[];
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function fill(rule: Rule, values: Record<string, string | number>): string {
  return rule.text.replace(/\{(\w+)\}/g, (_, key: string) => String(values[key] ?? `{${key}}`));
}

function validation(message: string): EmulatorError {
  return new EmulatorError("ValidationException", message);
}

/**
 * The service framework's (Coral's) constraint errors, checked before Bedrock reads the request:
 * `1 validation error detected: Value '0' at 'inferenceConfig.maxTokens' failed to satisfy
 * constraint: Member must have value greater than or equal to 1`.
 */
function constraint(value: unknown, path: string, rule: string): EmulatorError {
  const shown = value === null || value === undefined ? "null" : String(value);
  const subject = value === null || value === undefined ? "Value null" : `Value '${shown}'`;
  return validation(
    `1 validation error detected: ${subject} at '${path}' failed to satisfy constraint: ${rule}`,
  );
}

/** The union member a Converse block sets (`{"text": ...}` is a `text` block). */
function memberOf(block: Json): string | undefined {
  const keys = Object.keys(block).filter((k) => block[k] !== undefined && block[k] !== null);
  return keys.length === 1 ? keys[0] : undefined;
}

const TEXT_DOCUMENT_FORMATS = new Set(["txt", "md", "csv", "html"]);
const DOCUMENT_MEDIA_TYPES: Record<string, string> = {
  pdf: "application/pdf",
  doc: "application/msword",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  xls: "application/vnd.ms-excel",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
};

function imageBlock(image: Json): Json {
  const format = String(image.format ?? "");
  const source = isObject(image.source) ? image.source : {};
  if (typeof source.bytes === "string") {
    return { type: "image", source: { type: "base64", media_type: `image/${format}`, data: source.bytes } };
  }
  // An S3 image: the emulator does not fetch it, but it counts like any image.
  const uri = isObject(source.s3Location) ? String(source.s3Location.uri ?? "") : "";
  return { type: "image", source: { type: "url", url: uri } };
}

function documentBlock(document: Json): Json {
  const format = String(document.format ?? "txt");
  const source = isObject(document.source) ? document.source : {};
  const title = typeof document.name === "string" ? { title: document.name } : {};
  if (typeof source.text === "string") {
    return {
      type: "document",
      source: { type: "text", media_type: "text/plain", data: source.text },
      ...title,
    };
  }
  if (Array.isArray(source.content)) {
    const content = source.content
      .filter((c): c is Json => isObject(c) && typeof c.text === "string")
      .map((c) => ({ type: "text", text: c.text }));
    return { type: "document", source: { type: "content", content }, ...title };
  }
  if (typeof source.bytes === "string") {
    // Text formats reach Claude as plain text; the others as their file.
    if (TEXT_DOCUMENT_FORMATS.has(format)) {
      const data = Buffer.from(source.bytes, "base64").toString("utf8");
      return { type: "document", source: { type: "text", media_type: "text/plain", data }, ...title };
    }
    const mediaType = DOCUMENT_MEDIA_TYPES[format] ?? "application/octet-stream";
    return {
      type: "document",
      source: { type: "base64", media_type: mediaType, data: source.bytes },
      ...title,
    };
  }
  const uri = isObject(source.s3Location) ? String(source.s3Location.uri ?? "") : "";
  return { type: "document", source: { type: "url", url: uri }, ...title };
}

function toolResultContent(content: unknown): Json[] {
  if (!Array.isArray(content)) return [];
  return content.filter(isObject).map((item) => {
    if (typeof item.text === "string") return { type: "text", text: item.text };
    if (item.json !== undefined) return { type: "text", text: JSON.stringify(item.json) };
    if (isObject(item.image)) return imageBlock(item.image);
    if (isObject(item.document)) return documentBlock(item.document);
    return { type: "text", text: JSON.stringify(item) };
  });
}

function cacheControl(point: unknown): Json {
  const ttl = isObject(point) && typeof point.ttl === "string" ? { ttl: point.ttl } : {};
  return { type: "ephemeral", ...ttl };
}

/**
 * Translates one Converse content block; `null` for a `cachePoint`, which marks the block before
 * it as a cache breakpoint instead.
 */
function contentBlock(block: Json, at: string): Json | null {
  const member = memberOf(block);
  switch (member) {
    case "text":
      return { type: "text", text: String(block.text) };
    case "image":
      return imageBlock(block.image as Json);
    case "document":
      return documentBlock(block.document as Json);
    case "toolUse": {
      const use = block.toolUse as Json;
      return { type: "tool_use", id: use.toolUseId, name: use.name, input: use.input ?? {} };
    }
    case "toolResult": {
      const result = block.toolResult as Json;
      return {
        type: "tool_result",
        tool_use_id: result.toolUseId,
        content: toolResultContent(result.content),
        ...(result.status === "error" ? { is_error: true } : {}),
      };
    }
    case "reasoningContent": {
      const reasoning = block.reasoningContent as Json;
      if (isObject(reasoning.reasoningText)) {
        return {
          type: "thinking",
          thinking: reasoning.reasoningText.text,
          signature: reasoning.reasoningText.signature,
        };
      }
      return { type: "redacted_thinking", data: reasoning.redactedContent };
    }
    case "cachePoint":
      return null;
    default:
      throw validation(
        member
          ? `This model doesn't support the ${member} content block that you supplied. Try again with a supported content block.`
          : `The ContentBlock object at ${at} must set exactly one of its members.`,
      );
  }
}

function translateMessages(raw: unknown, rules: ConverseRules): Json[] {
  if (!Array.isArray(raw) || raw.length === 0) throw validation(rules.messages.firstMessageNotUser.text);
  return raw.map((message, i) => {
    if (!isObject(message)) throw constraint(message, `messages.${i + 1}.member`, "Member must not be null");
    const role = message.role;
    if (typeof role !== "string" || !["user", "assistant", "system"].includes(role)) {
      throw constraint(
        role,
        `messages.${i + 1}.member.role`,
        "Member must satisfy enum value set: [assistant, system, user]",
      );
    }
    if (!Array.isArray(message.content) || message.content.length === 0) {
      throw validation(fill(rules.messages.emptyContent, { i }));
    }
    const content: Json[] = [];
    message.content.forEach((block: unknown, j: number) => {
      if (!isObject(block))
        throw constraint(
          block,
          `messages.${i + 1}.member.content.${j + 1}.member`,
          "Member must not be null",
        );
      if (typeof block.text === "string" && block.text.trim() === "") {
        throw validation(fill(rules.messages.blankText, { i, j }));
      }
      const translated = contentBlock(block, `messages.${i}.content.${j}`);
      if (translated) content.push(translated);
      else if (content.length > 0)
        content[content.length - 1]!.cache_control = cacheControl(block.cachePoint);
    });
    return { role, content };
  });
}

function translateSystem(raw: unknown): Json[] | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw)) throw constraint(raw, "system", "Member must be a list");
  const out: Json[] = [];
  for (const block of raw) {
    if (!isObject(block)) continue;
    if (typeof block.text === "string") out.push({ type: "text", text: block.text });
    else if (block.cachePoint !== undefined && out.length > 0) {
      out[out.length - 1]!.cache_control = cacheControl(block.cachePoint);
    }
  }
  return out;
}

function translateTools(raw: unknown): { tools?: Json[]; tool_choice?: Json } {
  if (raw === undefined) return {};
  if (!isObject(raw) || !Array.isArray(raw.tools)) {
    throw constraint(isObject(raw) ? raw.tools : raw, "toolConfig.tools", "Member must not be null");
  }
  const tools: Json[] = [];
  raw.tools.forEach((tool: unknown, i: number) => {
    if (!isObject(tool)) return;
    if (isObject(tool.toolSpec)) {
      const spec = tool.toolSpec;
      const schema = isObject(spec.inputSchema) ? spec.inputSchema.json : undefined;
      tools.push({
        name: spec.name,
        ...(typeof spec.description === "string" ? { description: spec.description } : {}),
        input_schema: isObject(schema) ? schema : { type: "object", properties: {} },
      });
    } else if (isObject(tool.systemTool)) {
      tools.push({ type: tool.systemTool.name, name: tool.systemTool.name });
    } else if (tool.cachePoint !== undefined && tools.length > 0) {
      tools[tools.length - 1]!.cache_control = cacheControl(tool.cachePoint);
    } else if (tool.cachePoint === undefined) {
      throw constraint(undefined, `toolConfig.tools.${i + 1}.member`, "Member must not be null");
    }
  });
  const choice = raw.toolChoice;
  let tool_choice: Json | undefined;
  if (isObject(choice)) {
    if (choice.auto !== undefined) tool_choice = { type: "auto" };
    else if (choice.any !== undefined) tool_choice = { type: "any" };
    else if (isObject(choice.tool)) tool_choice = { type: "tool", name: choice.tool.name };
  }
  return { tools, ...(tool_choice ? { tool_choice } : {}) };
}

function numberIn(
  config: Json,
  field: string,
  { min, max, integer }: { min: number; max: number; integer?: boolean },
): number | undefined {
  const value = config[field];
  if (value === undefined || value === null) return undefined;
  const path = `inferenceConfig.${field}`;
  if (typeof value !== "number" || (integer && !Number.isInteger(value))) {
    throw validation(
      `1 validation error detected: Value at '${path}' failed to satisfy constraint: Member must be a number`,
    );
  }
  if (value < min) throw constraint(value, path, `Member must have value greater than or equal to ${min}`);
  if (value > max) throw constraint(value, path, `Member must have value less than or equal to ${max}`);
  return value;
}

/** Converse's request, checked at the Converse layer and translated to an InvokeModel body. */
export function translateConverseRequest(
  raw: Record<string, unknown>,
  model: ModelEntry,
  rules: ConverseRules = converseRules(),
): ConverseTranslation {
  const config = isObject(raw.inferenceConfig) ? raw.inferenceConfig : {};
  const maxTokens = numberIn(config, "maxTokens", { min: 1, max: Number.MAX_SAFE_INTEGER, integer: true });
  const temperature = numberIn(config, "temperature", { min: 0, max: 1 });
  const topP = numberIn(config, "topP", { min: 0, max: 1 });
  if (maxTokens !== undefined && maxTokens > model.maxOutputTokens) {
    throw validation(fill(rules.messages.maxTokensOverLimit, { limit: model.maxOutputTokens }));
  }
  const stopSequences = config.stopSequences;
  if (
    stopSequences !== undefined &&
    !(Array.isArray(stopSequences) && stopSequences.every((s) => typeof s === "string"))
  ) {
    throw constraint(stopSequences, "inferenceConfig.stopSequences", "Member must be a list of strings");
  }

  const messages = translateMessages(raw.messages, rules);
  if (messages[0]!.role !== "user") throw validation(rules.messages.firstMessageNotUser.text);
  const usesTools = messages.some((m) =>
    (m.content as Json[]).some((b) => b.type === "tool_use" || b.type === "tool_result"),
  );
  if (usesTools && raw.toolConfig === undefined) {
    throw validation(
      "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
    );
  }
  const system = translateSystem(raw.system);

  if (raw.requestMetadata !== undefined) {
    const metadata = raw.requestMetadata;
    if (!isObject(metadata) || Object.values(metadata).some((v) => typeof v !== "string")) {
      throw constraint(undefined, "requestMetadata", "Map value must be a string");
    }
  }
  const additional = raw.additionalModelRequestFields;
  if (additional !== undefined && !isObject(additional)) {
    throw validation(
      "The format of the value at additionalModelRequestFields is invalid. Provide a JSON object for the field and try again.",
    );
  }

  const body: Json = {
    anthropic_version: "bedrock-2023-05-31",
    max_tokens: maxTokens ?? Math.min(rules.defaultMaxTokens.value, model.maxOutputTokens),
    messages,
    ...(system?.length ? { system } : {}),
    ...(temperature !== undefined ? { temperature } : {}),
    ...(topP !== undefined ? { top_p: topP } : {}),
    ...(Array.isArray(stopSequences) && stopSequences.length > 0 ? { stop_sequences: stopSequences } : {}),
    ...translateTools(raw.toolConfig),
    // Model-specific fields (`thinking`, `top_k`, `anthropic_beta`, ...) join the body as they are;
    // the model layer judges them.
    ...(additional ?? {}),
  };
  const paths = raw.additionalModelResponseFieldPaths;
  return {
    body,
    responseFieldPaths: Array.isArray(paths) ? paths.filter((p): p is string => typeof p === "string") : [],
  };
}
