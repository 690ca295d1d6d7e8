/**
 * The core's answer in Converse's vocabulary: the whole response (Converse) or the events of
 * ConverseStream, translated from the same plan and Anthropic stream events InvokeModel renders.
 */
import type { StreamEvent } from "./render.js";
import type { Plan, PlannedBlock } from "./responder.js";

export interface ConverseUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  cacheReadInputTokens: number;
  cacheWriteInputTokens: number;
}

/** Tokens billed, in Converse's words: `inputTokens` excludes cache reads and writes; the total has all. */
export function converseUsage(billed: {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}): ConverseUsage {
  return {
    inputTokens: billed.input,
    outputTokens: billed.output,
    totalTokens: billed.input + billed.output + billed.cacheRead + billed.cacheWrite,
    cacheReadInputTokens: billed.cacheRead,
    cacheWriteInputTokens: billed.cacheWrite,
  };
}

function contentBlock(block: PlannedBlock): Record<string, unknown> {
  switch (block.type) {
    case "text":
      return { text: block.text };
    case "thinking":
      return { reasoningContent: { reasoningText: { text: block.thinking, signature: block.signature } } };
    case "tool_use":
      return { toolUse: { toolUseId: block.id, name: block.name, input: block.input } };
  }
}

/**
 * `additionalModelResponseFieldPaths` are JSON pointers into the model's own answer (clients ask
 * for `/delta/stop_sequence`, the field of Anthropic's `message_delta`); the answer keeps the
 * structure of each path.
 */
export function responseFields(plan: Plan, paths: readonly string[]): Record<string, unknown> | undefined {
  if (paths.length === 0) return undefined;
  const source: Record<string, unknown> = {
    stop_reason: plan.stopReason,
    stop_sequence: plan.stopSequence,
    delta: { stop_reason: plan.stopReason, stop_sequence: plan.stopSequence },
  };
  const out: Record<string, unknown> = {};
  for (const path of paths) {
    const keys = path.split("/").filter(Boolean);
    let value: unknown = source;
    for (const key of keys) value = (value as Record<string, unknown> | undefined)?.[key];
    if (value === undefined || keys.length === 0) continue;
    let target = out;
    for (const key of keys.slice(0, -1)) {
      target[key] ??= {};
      target = target[key] as Record<string, unknown>;
    }
    target[keys[keys.length - 1]!] = value;
  }
  return out;
}

export function renderConverse(
  plan: Plan,
  usage: ConverseUsage,
  latencyMs: number,
  paths: readonly string[],
): Record<string, unknown> {
  const fields = responseFields(plan, paths);
  return {
    output: { message: { role: "assistant", content: plan.blocks.map(contentBlock) } },
    stopReason: plan.stopReason,
    usage,
    metrics: { latencyMs },
    ...(fields ? { additionalModelResponseFields: fields } : {}),
  };
}

export interface ConverseStreamEvent {
  /** The `:event-type` (the ConverseStreamOutput union member). */
  type: string;
  payload: Record<string, unknown>;
}

export interface ConverseStreamContext {
  plan: Plan;
  paths: readonly string[];
  /** Usage and latency for the closing `metadata` event. */
  metadata: () => { usage: ConverseUsage; latencyMs: number };
}

/**
 * The ConverseStream events for one Anthropic stream event: `message_start` → `messageStart`;
 * a tool block's start → `contentBlockStart` (text and reasoning blocks have none, as on Bedrock);
 * deltas → `contentBlockDelta` (`text`, `toolUse.input`, `reasoningContent.text`/`signature`);
 * `content_block_stop` → `contentBlockStop`; `message_delta` → `messageStop`; `message_stop` →
 * `metadata` with usage and metrics.
 */
export function converseEventsFor(event: StreamEvent, ctx: ConverseStreamContext): ConverseStreamEvent[] {
  const data = event.data as Record<string, unknown> & {
    index?: number;
    content_block?: { type: string; id?: string; name?: string };
    delta?: Record<string, unknown>;
  };
  const contentBlockIndex = data.index;
  switch (event.type) {
    case "message_start":
      return [{ type: "messageStart", payload: { role: "assistant" } }];
    case "content_block_start":
      if (data.content_block?.type !== "tool_use") return [];
      return [
        {
          type: "contentBlockStart",
          payload: {
            contentBlockIndex,
            start: { toolUse: { toolUseId: data.content_block.id, name: data.content_block.name } },
          },
        },
      ];
    case "content_block_delta": {
      const delta = data.delta ?? {};
      let converseDelta: Record<string, unknown>;
      switch (delta.type) {
        case "text_delta":
          converseDelta = { text: delta.text };
          break;
        case "input_json_delta":
          converseDelta = { toolUse: { input: delta.partial_json } };
          break;
        case "thinking_delta":
          converseDelta = { reasoningContent: { text: delta.thinking } };
          break;
        case "signature_delta":
          converseDelta = { reasoningContent: { signature: delta.signature } };
          break;
        default:
          return [];
      }
      return [{ type: "contentBlockDelta", payload: { contentBlockIndex, delta: converseDelta } }];
    }
    case "content_block_stop":
      return [{ type: "contentBlockStop", payload: { contentBlockIndex } }];
    case "message_delta": {
      const fields = responseFields(ctx.plan, ctx.paths);
      return [
        {
          type: "messageStop",
          payload: {
            stopReason: ctx.plan.stopReason,
            ...(fields ? { additionalModelResponseFields: fields } : {}),
          },
        },
      ];
    }
    case "message_stop": {
      const { usage, latencyMs } = ctx.metadata();
      return [{ type: "metadata", payload: { usage, metrics: { latencyMs } } }];
    }
    default:
      return [];
  }
}
