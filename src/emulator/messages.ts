/**
 * The one core behind every way of asking for a message: InvokeModel (JSON or AWS event stream),
 * Converse (JSON or its own event stream), the Anthropic-native Messages endpoints of
 * bedrock-runtime and Mantle (JSON or SSE), and the Anthropic API's own `/v1/messages`. Each request shape is validated and authorised by its
 * route; from here on they share quotas, faults, the responder, billing and the journal.
 */
import { anthropicErrorBody } from "../anthropic/errors.js";
import { encodeSseEvent } from "../anthropic/sse.js";
import { encodeChunkEvent, encodeEvent, encodeExceptionEvent } from "../bedrock/event-stream.js";
import type { ModelEntry } from "../models/catalog.js";
import { globMatch } from "../util/glob.js";
import { sleep } from "../util/sleep.js";
import { resetConnection } from "./connection.js";
import { converseEventsFor, converseUsage, renderConverse } from "./converse-response.js";
import { anthropicTypeFor, EmulatorError } from "./errors.js";
import { FAULT_MESSAGES, type FaultDecision } from "./faults.js";
import { anthropicErrorResponse, awsErrorResponse, type NodeBindings } from "./http.js";
import type { Api, RequestRecord } from "./journal.js";
import { inputTokens } from "./prompt-cache.js";
import { THROTTLE_MESSAGES } from "./quotas.js";
import { type InputUsage, renderMessage, renderStream, type StreamEvent } from "./render.js";
import { type Plan, planResponse } from "./responder.js";
import type { EmulatorState } from "./state.js";
import type { MessagesBody } from "./validate.js";

/**
 * How the answer is written: the Anthropic Message as JSON, InvokeModel's event stream, SSE, or
 * Converse's response and event stream.
 */
export type Encoding = "json" | "eventstream" | "sse" | "converse" | "converse-stream";

function isStream(encoding: Encoding): boolean {
  return encoding === "eventstream" || encoding === "sse" || encoding === "converse-stream";
}

export interface MessagesCall {
  api: Api;
  operation: string;
  /** `anthropic` for the Anthropic API endpoint. */
  region: string;
  requestedModel: string;
  model: ModelEntry;
  /** Account the prompt cache belongs to. */
  account: string;
  identity: string | null;
  body: MessagesBody;
  encoding: Encoding;
  /** Converse's `additionalModelResponseFieldPaths`. */
  responseFieldPaths?: readonly string[];
  requestId: string;
  startedAt: number;
  bindings: NodeBindings;
}

interface Billing {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

const PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const NO_BILL: Billing = { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 };

function isBedrock(api: Api): boolean {
  return api !== "anthropic";
}

/** Names a fault or quota rule may use for the model of a call. */
export function callModelNames(call: Pick<MessagesCall, "requestedModel" | "model">): string[] {
  const { model } = call;
  return [call.requestedModel, model.bedrockModelId, model.anthropicName, ...model.aliases];
}

function minimumCacheable(state: EmulatorState, model: ModelEntry): number {
  return (
    state.rules.minCacheableTokens.rules.find((r) => globMatch(r.pattern, model.anthropicName))?.tokens ??
    1024
  );
}

export function errorResponseFor(
  call: Pick<MessagesCall, "api" | "requestId">,
  error: EmulatorError,
): Response {
  return call.api === "bedrock-runtime"
    ? awsErrorResponse(error, call.requestId)
    : anthropicErrorResponse(error, call.requestId, isBedrock(call.api));
}

function record(
  state: EmulatorState,
  call: MessagesCall,
  status: number,
  outcome: RequestRecord["outcome"],
  billed: Billing,
  errorName: string | null,
): void {
  state.journal.record({
    time: new Date(call.startedAt).toISOString(),
    requestId: call.requestId,
    api: call.api,
    operation: call.operation,
    region: call.api === "anthropic" ? null : call.region,
    model: call.requestedModel,
    foundationModel: call.model.bedrockModelId,
    identity: call.identity,
    status,
    errorName,
    outcome,
    stream: isStream(call.encoding),
    inputTokens: billed.input,
    outputTokens: billed.output,
    cacheReadInputTokens: billed.cacheRead,
    cacheWriteInputTokens: billed.cacheWrite,
    latencyMs: state.now() - call.startedAt,
  });
}

/** Records and writes an error that ends a call before any answer. */
export function failCall(state: EmulatorState, call: MessagesCall, error: EmulatorError): Response {
  record(state, call, error.status, "error", NO_BILL, error.exception);
  return errorResponseFor(call, error);
}

function faultError(decision: FaultDecision): EmulatorError {
  const name = decision.error as Exclude<FaultDecision["error"], "ConnectionReset" | undefined>;
  const extra =
    name === "ModelStreamErrorException"
      ? { originalStatusCode: 500, originalMessage: "The model encountered an unexpected error." }
      : {};
  return new EmulatorError(name, FAULT_MESSAGES[name], { extra });
}

/** Answers a validated, authorised Messages call. */
export async function answerMessages(state: EmulatorState, call: MessagesCall): Promise<Response> {
  const { body, model } = call;
  const modelNames = callModelNames(call);
  const promptTokens = inputTokens(body);

  const quota = state.quotas.admit(call.region, modelNames, promptTokens + body.max_tokens);
  if (!quota.ok)
    return failCall(state, call, new EmulatorError("ThrottlingException", THROTTLE_MESSAGES[quota.kind]));

  const stream = isStream(call.encoding);
  const decision = state.faults.decide({ region: call.region, modelNames, stream });
  await sleep(state.config.pace.firstByteMs + (decision?.latencyMs ?? 0));
  if (decision?.error && (!stream || decision.afterEvents === 0)) {
    if (decision.error === "ConnectionReset") {
      record(state, call, 0, "connection_reset", NO_BILL, "ConnectionReset");
      resetConnection(call.bindings);
      return new Response(null, { status: 500 });
    }
    return failCall(state, call, faultError(decision));
  }

  const cache = state.cache.account(
    `${call.account}|${model.bedrockModelId}`,
    body,
    minimumCacheable(state, model),
  );
  const bedrock = isBedrock(call.api);
  const usage: InputUsage = {
    input_tokens: cache.uncachedTokens,
    cache_creation_input_tokens: cache.cacheWriteTokens,
    cache_read_input_tokens: cache.cacheReadTokens,
  };
  if (!bedrock) {
    usage.cache_creation = {
      ephemeral_5m_input_tokens: cache.cacheWriteTokens - cache.cacheWrite1hTokens,
      ephemeral_1h_input_tokens: cache.cacheWrite1hTokens,
    };
  }
  const plan = planResponse(body, {
    model,
    toolIdPrefix: bedrock ? "toolu_bdrk_01" : "toolu_01",
    nonce: call.requestId,
  });
  const meta = {
    id: bedrock ? state.nextId("msg_bdrk_01", 22) : state.nextId("msg_01", 22),
    model: model.anthropicName,
    usage,
  };
  const inputBill = {
    input: cache.uncachedTokens,
    cacheRead: cache.cacheReadTokens,
    cacheWrite: cache.cacheWriteTokens,
  };

  if (call.encoding === "converse") {
    const billed = { ...inputBill, output: plan.outputTokens };
    const answer = renderConverse(
      plan,
      converseUsage(billed),
      state.now() - call.startedAt,
      call.responseFieldPaths ?? [],
    );
    record(state, call, 200, "completed", billed, null);
    return new Response(JSON.stringify(answer), {
      status: 200,
      headers: { "content-type": "application/json", "x-amzn-requestid": call.requestId },
    });
  }
  if (!stream) {
    const message = renderMessage(plan, meta);
    record(state, call, 200, "completed", { ...inputBill, output: plan.outputTokens }, null);
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (bedrock) headers["x-amzn-requestid"] = call.requestId;
    if (call.api === "bedrock-runtime") {
      headers["x-amzn-bedrock-input-token-count"] = String(cache.uncachedTokens);
      headers["x-amzn-bedrock-output-token-count"] = String(plan.outputTokens);
      headers["x-amzn-bedrock-invocation-latency"] = String(state.now() - call.startedAt);
      headers["x-amzn-bedrock-cache-read-input-token-count"] = String(cache.cacheReadTokens);
      headers["x-amzn-bedrock-cache-write-input-token-count"] = String(cache.cacheWriteTokens);
    } else {
      headers["request-id"] = call.requestId;
    }
    return new Response(JSON.stringify(message), { status: 200, headers });
  }

  const events = renderStream(plan, meta, state.config.tokensPerDelta);
  return new Response(streamBody(state, call, plan, events, decision, inputBill), {
    status: 200,
    headers:
      call.encoding === "eventstream"
        ? {
            "content-type": "application/vnd.amazon.eventstream",
            "x-amzn-requestid": call.requestId,
            "x-amzn-bedrock-content-type": "application/json",
          }
        : call.encoding === "converse-stream"
          ? { "content-type": "application/vnd.amazon.eventstream", "x-amzn-requestid": call.requestId }
          : {
              "content-type": "text/event-stream; charset=utf-8",
              "cache-control": "no-cache",
              "request-id": call.requestId,
              ...(bedrock ? { "x-amzn-requestid": call.requestId } : {}),
            },
  });
}

/** Resolves once the response has sent its headers and has nothing left to write (bounded wait). */
async function flushed(bindings: NodeBindings): Promise<void> {
  const outgoing = bindings.outgoing as {
    headersSent?: boolean;
    writableLength?: number;
    socket?: { writableLength?: number } | null;
  };
  for (let i = 0; i < 200; i++) {
    const pending = (outgoing.writableLength ?? 0) + (outgoing.socket?.writableLength ?? 0);
    if (outgoing.headersSent && pending === 0) {
      // One more turn: the last write's callback runs after the bytes left the process.
      await new Promise((resolve) => setImmediate(resolve));
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

interface Frame {
  bytes: Uint8Array | string;
  outputTokens: number;
  /** Whether the frame counts towards a fault's `afterEvents` (pings do not). */
  counts: boolean;
  /** The frame that tells the client what it was billed (message_start): input is billed once sent. */
  billsInput: boolean;
}

/**
 * ConverseStream's frames. Its usage reaches the client only in the closing `metadata` event:
 * the input is billed once `messageStart` went out (as InvokeModel's once `message_start` did) and
 * the output once `metadata`, which carries the count, did.
 */
function converseFrames(
  state: EmulatorState,
  call: MessagesCall,
  plan: Plan,
  events: StreamEvent[],
  billing: Billing,
): Frame[] {
  const ctx = {
    plan,
    paths: call.responseFieldPaths ?? [],
    metadata: () => ({ usage: converseUsage(billing), latencyMs: state.now() - call.startedAt }),
  };
  const out: Frame[] = [];
  for (const event of events) {
    for (const converse of converseEventsFor(event, ctx)) {
      const padding = PADDING.slice(0, ((out.length * 7) % PADDING.length) + 1);
      out.push({
        bytes: encodeEvent(converse.type, { ...converse.payload, p: padding }),
        outputTokens: converse.type === "metadata" ? billing.output : 0,
        counts: true,
        billsInput: converse.type === "messageStart",
      });
    }
  }
  return out;
}

function frames(
  state: EmulatorState,
  call: MessagesCall,
  plan: Plan,
  events: StreamEvent[],
  billing: Billing,
): Frame[] {
  if (call.encoding === "converse-stream") return converseFrames(state, call, plan, events, billing);
  const out: Frame[] = [];
  events.forEach((event, index) => {
    let data = event.data;
    if (call.encoding === "eventstream") {
      if (event.type === "message_stop") {
        const metrics: Record<string, number> = {
          inputTokenCount: billing.input,
          outputTokenCount: billing.output,
          invocationLatency: state.now() - call.startedAt,
          firstByteLatency: state.config.pace.firstByteMs,
        };
        if (billing.cacheRead || billing.cacheWrite) {
          metrics.cacheReadInputTokenCount = billing.cacheRead;
          metrics.cacheWriteInputTokenCount = billing.cacheWrite;
        }
        data = { ...data, "amazon-bedrock-invocationMetrics": metrics };
      }
      const padding = PADDING.slice(0, ((index * 7) % PADDING.length) + 1);
      out.push({
        bytes: encodeChunkEvent(JSON.stringify(data), padding),
        outputTokens: event.outputTokens,
        counts: true,
        billsInput: event.type === "message_start",
      });
    } else {
      out.push({
        bytes: encodeSseEvent(event.type, data),
        outputTokens: event.outputTokens,
        counts: true,
        billsInput: event.type === "message_start",
      });
      // The Anthropic API sends a ping after the first content block starts.
      if (event.type === "content_block_start" && data.index === 0) {
        out.push({
          bytes: encodeSseEvent("ping", { type: "ping" }),
          outputTokens: 0,
          counts: false,
          billsInput: false,
        });
      }
    }
  });
  return out;
}

function errorFrame(call: MessagesCall, error: EmulatorError): Uint8Array | string {
  if (call.encoding === "eventstream" || call.encoding === "converse-stream")
    return encodeExceptionEvent(error.exception, { message: error.message, ...error.extra });
  return encodeSseEvent("error", anthropicErrorBody(anthropicTypeFor(error), error.message, call.requestId));
}

function streamBody(
  state: EmulatorState,
  call: MessagesCall,
  plan: Plan,
  events: StreamEvent[],
  decision: FaultDecision | undefined,
  input: Omit<Billing, "output">,
): ReadableStream<Uint8Array> {
  const total: Billing = { ...input, output: events.reduce((n, e) => n + e.outputTokens, 0) };
  // The whole output is billed with message_delta (see pull below).
  for (const event of events) event.outputTokens = event.type === "message_delta" ? total.output : 0;
  const all = frames(state, call, plan, events, total);
  const encoder = new TextEncoder();
  let next = 0;
  let counted = 0;
  let finished = false;
  const delivered: Billing = { ...NO_BILL };
  const finish = (status: number, outcome: RequestRecord["outcome"], errorName: string | null) => {
    if (finished) return;
    finished = true;
    record(state, call, status, outcome, delivered, errorName);
  };
  const faultAt = decision?.error ? decision.afterEvents : Number.POSITIVE_INFINITY;

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (finished) return;
      if (next > 0) await sleep(state.config.pace.eventMs);
      if (finished) return;
      if (counted >= faultAt && decision?.error) {
        if (decision.error === "ConnectionReset") {
          // What was enqueued may still sit in the server's buffers: cut only once it has gone out,
          // so that what the bill counts as delivered really reached the client.
          await flushed(call.bindings);
          finish(200, "connection_reset", "ConnectionReset");
          resetConnection(call.bindings);
          // The socket is gone; closing (rather than erroring) the body keeps the server quiet.
          controller.close();
          return;
        }
        const error = faultError(decision);
        const frame = errorFrame(call, error);
        controller.enqueue(typeof frame === "string" ? encoder.encode(frame) : frame);
        finish(200, "error", error.exception);
        controller.close();
        return;
      }
      const frame = all[next++];
      if (!frame) {
        finish(200, "completed", null);
        controller.close();
        return;
      }
      if (frame.counts) counted++;
      // Billing: the input once message_start went out; the output once message_delta (which
      // carries the final count) did. A stream cut before that bills no output: the client cannot
      // know how much the model wrote, and a ledger must be able to agree with the bill.
      if (frame.billsInput) Object.assign(delivered, input);
      delivered.output += frame.outputTokens;
      controller.enqueue(typeof frame.bytes === "string" ? encoder.encode(frame.bytes) : frame.bytes);
      if (next === all.length) {
        finish(200, "completed", null);
        controller.close();
      }
    },
    cancel() {
      finish(200, "client_closed", null);
    },
  });
}
