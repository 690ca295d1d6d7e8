/**
 * Renders a planned answer in the Anthropic Messages wire vocabulary: the whole Message (JSON
 * answers) or its stream events, each tagged with the output tokens it carries so that a stream
 * cut part-way bills exactly what reached the client.
 */
import type { Plan, PlannedBlock } from "./responder.js";
import { tokenize } from "./tokens.js";

export interface InputUsage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  /** Split of the cache write by TTL (the Anthropic API reports it; Bedrock does not). */
  cache_creation?: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
}

export interface MessageMeta {
  id: string;
  /** The Anthropic model name, as both Bedrock and the Anthropic API report it. */
  model: string;
  usage: InputUsage;
}

export interface StreamEvent {
  type: string;
  data: Record<string, unknown>;
  /** Output tokens this event delivers. */
  outputTokens: number;
}

export function renderMessage(plan: Plan, meta: MessageMeta): Record<string, unknown> {
  return {
    id: meta.id,
    type: "message",
    role: "assistant",
    model: meta.model,
    content: plan.blocks,
    stop_reason: plan.stopReason,
    stop_sequence: plan.stopSequence,
    usage: { ...meta.usage, output_tokens: plan.outputTokens },
  };
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function blockStart(block: PlannedBlock): Record<string, unknown> {
  switch (block.type) {
    case "text":
      return { type: "text", text: "" };
    case "thinking":
      return { type: "thinking", thinking: "", signature: "" };
    case "tool_use":
      return { type: "tool_use", id: block.id, name: block.name, input: {} };
  }
}

/** The event sequence of the Messages streaming API for a planned answer. */
export function renderStream(plan: Plan, meta: MessageMeta, tokensPerDelta: number): StreamEvent[] {
  const events: StreamEvent[] = [];
  const push = (type: string, data: Record<string, unknown>, outputTokens = 0) =>
    events.push({ type, data: { type, ...data }, outputTokens });

  push("message_start", {
    message: {
      id: meta.id,
      type: "message",
      role: "assistant",
      model: meta.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...meta.usage, output_tokens: 0 },
    },
  });
  plan.blocks.forEach((block, index) => {
    push("content_block_start", { index, content_block: blockStart(block) });
    if (block.type === "text") {
      for (const group of chunks(tokenize(block.text), tokensPerDelta)) {
        push(
          "content_block_delta",
          { index, delta: { type: "text_delta", text: group.join("") } },
          group.length,
        );
      }
    } else if (block.type === "thinking") {
      for (const group of chunks(tokenize(block.thinking), tokensPerDelta)) {
        push(
          "content_block_delta",
          { index, delta: { type: "thinking_delta", thinking: group.join("") } },
          group.length,
        );
      }
      push("content_block_delta", { index, delta: { type: "signature_delta", signature: block.signature } });
    } else {
      const json = JSON.stringify(block.input);
      const size = Math.max(1, tokensPerDelta * 6);
      for (let i = 0; i < json.length; i += size) {
        push("content_block_delta", {
          index,
          delta: { type: "input_json_delta", partial_json: json.slice(i, i + size) },
        });
      }
    }
    // Tool input tokens are delivered when the block is complete: a cut before that bills none.
    push("content_block_stop", { index }, block.type === "tool_use" ? plan.blockTokens[index]! : 0);
  });
  push(
    "message_delta",
    {
      delta: { stop_reason: plan.stopReason, stop_sequence: plan.stopSequence },
      usage: { output_tokens: plan.outputTokens },
    },
    0,
  );
  push("message_stop", {});
  return events;
}
