/**
 * The emulator's "model": a deterministic answer derived from the request, so that tests can
 * assert on it. The rules (also in docs/emulator.md):
 *
 * - Text: `This is the bedrock-claude emulator answering as {model}.`, then
 *   `System prompt: "{system}".` when there is one, then `You said: "{last user text}".`
 * - `[[tokens=N]]` in the last user text pads the answer with filler words to N output tokens.
 * - Tools: when tools are offered and the last user text names one (or `tool_choice` is `any` or
 *   `tool`), the answer calls it, with an input built from its `input_schema`: required
 *   properties (all, when none are required), strings taken from `name=value` or `name: value` in
 *   the prompt, else `"example"`; numbers likewise, else 1; booleans true; enums their first value.
 * - A `tool_result` in the last user turn is answered `Tool {name} returned: "{content}".`
 * - Thinking (`enabled` or `adaptive`) adds a thinking block first, within `budget_tokens`.
 * - `stop_sequences` cut the text at the first one found; `max_tokens` cuts at that many tokens.
 */
import { createHash } from "node:crypto";
import type { ModelEntry } from "../models/catalog.js";
import { countTokens, tokenize } from "./tokens.js";
import type { ContentBlock, MessageParam, MessagesBody } from "./validate.js";

export type PlannedBlock =
  | { type: "text"; text: string }
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "tool_use"; id: string; name: string; input: Record<string, unknown> };

export interface Plan {
  blocks: PlannedBlock[];
  /** Output tokens of each block, in order. */
  blockTokens: number[];
  outputTokens: number;
  stopReason: "end_turn" | "max_tokens" | "stop_sequence" | "tool_use";
  stopSequence: string | null;
}

/** Filler words of at most six characters: each is exactly one token (see tokens.ts). */
const FILLER = [
  "region",
  "token",
  "quota",
  "stream",
  "retry",
  "budget",
  "signal",
  "cache",
  "model",
  "answer",
  "prompt",
  "reply",
];
const PAD_DIRECTIVE = /\[\[tokens=(\d{1,6})\]\]/;
const MAX_ECHO_CHARS = 4000;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

function textOf(content: MessageParam["content"]): string {
  if (typeof content === "string") return content;
  return content
    .filter((b) => b.type === "text")
    .map((b) => String((b as ContentBlock).text ?? ""))
    .join("\n");
}

function systemText(system: MessagesBody["system"]): string {
  if (system === undefined) return "";
  return typeof system === "string" ? system : system.map((b) => b.text).join("\n");
}

function toolResultText(block: ContentBlock): string {
  const content = block.content;
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .filter((c) => (c as { type?: string }).type === "text")
      .map((c) => String((c as { text?: string }).text ?? ""))
      .join("\n");
  }
  return "";
}

function findToolName(messages: MessageParam[], toolUseId: string): string {
  for (const message of messages) {
    if (message.role !== "assistant" || typeof message.content === "string") continue;
    for (const block of message.content) {
      if (block.type === "tool_use" && (block as ContentBlock).id === toolUseId)
        return String((block as ContentBlock).name);
    }
  }
  return "tool";
}

function valueFromPrompt(prompt: string, key: string): string | undefined {
  const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const match = new RegExp(`\\b${escaped}\\s*[=:]\\s*("([^"]*)"|[^,;\\n]+)`, "i").exec(prompt);
  return match ? (match[2] ?? match[1]!).trim() : undefined;
}

/** An input that satisfies the schema, with values read from the prompt where it names them. */
export function sampleFromSchema(schema: unknown, prompt: string, key = "value"): unknown {
  const s = (schema ?? {}) as Record<string, unknown>;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  if ("const" in s) return s.const;
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  const fromPrompt = valueFromPrompt(prompt, key);
  switch (type) {
    case "string":
      return fromPrompt ?? "example";
    case "integer":
    case "number": {
      const n = Number(fromPrompt);
      return fromPrompt !== undefined && Number.isFinite(n) ? n : 1;
    }
    case "boolean":
      return fromPrompt === undefined ? true : fromPrompt.toLowerCase() !== "false";
    case "array":
      return typeof s.minItems === "number" && s.minItems > 0 ? [sampleFromSchema(s.items, prompt, key)] : [];
    case "null":
      return null;
    default: {
      const properties = (s.properties ?? {}) as Record<string, unknown>;
      const required = Array.isArray(s.required) ? (s.required as string[]) : Object.keys(properties);
      const out: Record<string, unknown> = {};
      for (const name of required) out[name] = sampleFromSchema(properties[name], prompt, name);
      return out;
    }
  }
}

interface ToolDef {
  name: string;
  input_schema?: Record<string, unknown>;
  type?: string;
}

function chooseTool(body: MessagesBody, prompt: string): ToolDef | undefined {
  // Only client tools (with an input schema) are called by the emulator; server tools are not run.
  const tools = (body.tools ?? []).filter((t) => t.input_schema !== undefined) as ToolDef[];
  const choice = body.tool_choice;
  if (tools.length === 0 || choice?.type === "none") return undefined;
  if (choice?.type === "tool") return tools.find((t) => t.name === choice.name);
  const lower = prompt.toLowerCase();
  const named = tools.find((t) => lower.includes(t.name.toLowerCase()));
  if (named) return named;
  return choice?.type === "any" ? tools[0] : undefined;
}

function digest(...parts: string[]): string {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part).update("\0");
  return hash.digest("base64url");
}

function fillerTo(text: string, targetTokens: number, seed: string): string {
  let have = countTokens(text);
  let out = text;
  let i = 0;
  const start = seed.charCodeAt(0) % FILLER.length;
  while (have < targetTokens) {
    out += ` ${FILLER[(start + i++) % FILLER.length]}`;
    have++;
  }
  return out;
}

function truncateToTokens(text: string, tokens: number): string {
  return tokenize(text).slice(0, tokens).join("");
}

export interface PlanContext {
  model: ModelEntry;
  /** Prefix of generated tool_use ids (`toolu_bdrk_` on Bedrock, `toolu_` on the Anthropic API). */
  toolIdPrefix: string;
  /** A value unique to this request, for ids. */
  nonce: string;
}

/** Plans the whole answer; streaming and JSON answers are both rendered from it. */
export function planResponse(body: MessagesBody, ctx: PlanContext): Plan {
  const messages = body.messages;
  const lastUser = [...messages].reverse().find((m) => m.role === "user");
  const prompt = lastUser ? textOf(lastUser.content) : "";
  const candidates: PlannedBlock[] = [];

  const thinkingOn = body.thinking?.type === "enabled" || body.thinking?.type === "adaptive";
  let thinkingBudget = Number.POSITIVE_INFINITY;
  if (thinkingOn) {
    const thinkingText = `The user asks: "${clip(prompt, 200)}". I will answer directly and deterministically.`;
    if (body.thinking?.type === "enabled") thinkingBudget = body.thinking.budget_tokens;
    const bounded = truncateToTokens(thinkingText, thinkingBudget);
    candidates.push({ type: "thinking", thinking: bounded, signature: digest("thinking", bounded) });
  }

  const toolResults =
    lastUser && typeof lastUser.content !== "string"
      ? (lastUser.content.filter((b) => b.type === "tool_result") as ContentBlock[])
      : [];
  const tool = toolResults.length === 0 ? chooseTool(body, prompt) : undefined;
  if (toolResults.length > 0) {
    const text = toolResults
      .map(
        (r) =>
          `Tool ${findToolName(messages, String(r.tool_use_id))} returned: "${clip(toolResultText(r), 500)}".`,
      )
      .join(" ");
    candidates.push({ type: "text", text });
  } else if (tool) {
    const forced = body.tool_choice?.type === "tool" || body.tool_choice?.type === "any";
    if (!forced) candidates.push({ type: "text", text: `I'll call the ${tool.name} tool.` });
    candidates.push({
      type: "tool_use",
      id: `${ctx.toolIdPrefix}${digest(ctx.nonce, tool.name).slice(0, 24)}`,
      name: tool.name,
      input: sampleFromSchema(tool.input_schema, prompt) as Record<string, unknown>,
    });
  } else {
    const system = systemText(body.system);
    let text = `This is the bedrock-claude emulator answering as ${ctx.model.anthropicName}.`;
    if (system) text += ` System prompt: "${clip(system, 300)}".`;
    text += ` You said: "${clip(prompt.replace(PAD_DIRECTIVE, "").trim(), MAX_ECHO_CHARS)}".`;
    const pad = PAD_DIRECTIVE.exec(prompt);
    if (pad) text = fillerTo(text, Number(pad[1]), digest(prompt));
    candidates.push({ type: "text", text });
  }

  // Apply stop sequences, then max_tokens, block by block.
  let stopReason: Plan["stopReason"] = tool ? "tool_use" : "end_turn";
  let stopSequence: string | null = null;
  const blocks: PlannedBlock[] = [];
  const blockTokens: number[] = [];
  let remaining = body.max_tokens;
  for (const candidate of candidates) {
    let block = candidate;
    if (block.type === "text" && body.stop_sequences?.length) {
      let cut = -1;
      for (const sequence of body.stop_sequences) {
        const at = sequence ? block.text.indexOf(sequence) : -1;
        if (at >= 0 && (cut < 0 || at < cut)) {
          cut = at;
          stopSequence = sequence;
        }
      }
      if (cut >= 0) block = { type: "text", text: block.text.slice(0, cut) };
    }
    const tokens = tokensOf(block);
    if (tokens > remaining) {
      stopReason = "max_tokens";
      stopSequence = null;
      if (block.type === "text" && remaining > 0) {
        blocks.push({ type: "text", text: truncateToTokens(block.text, remaining) });
        blockTokens.push(remaining);
      } else if (block.type === "thinking" && remaining > 0) {
        const thinking = truncateToTokens(block.thinking, remaining);
        blocks.push({ type: "thinking", thinking, signature: digest("thinking", thinking) });
        blockTokens.push(remaining);
      }
      remaining = 0;
      break;
    }
    blocks.push(block);
    blockTokens.push(tokens);
    remaining -= tokens;
    if (stopSequence !== null) {
      stopReason = "stop_sequence";
      break;
    }
  }
  if (blocks.length === 0) {
    // The API always returns at least one block; with max_tokens exhausted it is an empty text.
    blocks.push({ type: "text", text: "" });
    blockTokens.push(0);
  }
  return {
    blocks,
    blockTokens,
    outputTokens: blockTokens.reduce((a, b) => a + b, 0),
    stopReason,
    stopSequence,
  };
}

export function tokensOf(block: PlannedBlock): number {
  switch (block.type) {
    case "text":
      return countTokens(block.text);
    case "thinking":
      return countTokens(block.thinking);
    case "tool_use":
      return countTokens(`${block.name} ${JSON.stringify(block.input)}`);
  }
}
