/**
 * Structured logs: one JSON line per request (ids, key name, model, target, status, tokens, cost,
 * latency) and a line for each lifecycle event. Prompt and completion text appear only when the
 * operator turns `logging.prompts` on; secrets never do (keys are logged by name).
 */
import type { LedgerRequest } from "../usage/ledger.js";

export type LogSink = (line: string) => void;

export interface RequestLogOptions {
  sink?: LogSink;
  /** Per-request lines (default true). */
  requests?: boolean;
  /** Prompt and completion text in request lines (default false). */
  prompts?: boolean;
}

/**
 * Lines for stdout, written together once per turn of the event loop: stdout to a pipe or file is
 * a synchronous write on Linux, and one write per request cost about 80 µs of CPU on the gateway's
 * hot path (measured). What is pending is written at exit too.
 */
let pending: string[] = [];
let exitHooked = false;

function flushStdout(): void {
  if (pending.length === 0) return;
  const text = `${pending.join("\n")}\n`;
  pending = [];
  process.stdout.write(text);
}

function batchedStdout(): LogSink {
  if (!exitHooked) {
    exitHooked = true;
    process.once("exit", flushStdout);
  }
  return (line) => {
    if (pending.length === 0) setImmediate(flushStdout);
    pending.push(line);
  };
}

export class RequestLog {
  private readonly sink: LogSink;
  readonly requestsOn: boolean;
  readonly promptsOn: boolean;

  constructor(options: RequestLogOptions = {}) {
    this.sink = options.sink ?? batchedStdout();
    this.requestsOn = options.requests ?? true;
    this.promptsOn = options.prompts ?? false;
  }

  event(msg: string, fields: Record<string, unknown> = {}, level: "info" | "warn" | "error" = "info"): void {
    this.sink(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }));
  }

  /** A request the ledger recorded (never its text: see `content`). */
  recorded(entry: LedgerRequest, route: string | undefined): void {
    if (!this.requestsOn) return;
    this.sink(
      JSON.stringify({
        time: new Date(entry.time).toISOString(),
        level: entry.status >= 500 || entry.status === 0 ? "error" : entry.status >= 400 ? "warn" : "info",
        msg: "request",
        requestId: entry.id,
        upstreamRequestId: entry.upstreamRequestId,
        route,
        key: entry.key,
        tag: entry.tag,
        model: entry.anthropicName ?? entry.modelRequested,
        modelResolved: entry.modelResolved,
        target: entry.target,
        failover: entry.failover,
        attempts: entry.attempts.length,
        stream: entry.stream,
        status: entry.status,
        error: entry.errorName,
        stopReason: entry.stopReason,
        inputTokens: entry.inputTokens,
        outputTokens: entry.outputTokens,
        cacheReadTokens: entry.cacheReadTokens,
        cacheWriteTokens: entry.cacheWriteTokens,
        costUsd: entry.costUsd,
        firstByteMs: entry.firstByteMs,
        totalMs: entry.totalMs,
      }),
    );
  }

  /** Prompt and completion text of a request, on its own line, only when prompt logging is on. */
  content(fields: {
    requestId: string;
    route: string;
    key: string;
    prompt: unknown;
    completion: string;
  }): void {
    if (!this.promptsOn) return;
    this.sink(JSON.stringify({ time: new Date().toISOString(), level: "info", msg: "content", ...fields }));
  }

  /** A request answered without reaching the ledger (refused by the gateway, or not a model call). */
  refused(fields: {
    requestId: string;
    route: string;
    key: string | null;
    status: number;
    error: string;
  }): void {
    if (!this.requestsOn) return;
    this.sink(JSON.stringify({ time: new Date().toISOString(), level: "warn", msg: "refused", ...fields }));
  }
}

/** The answer's text from a Messages answer: the JSON message's text blocks, or an SSE stream's text deltas. */
function completionOf(raw: string): string {
  if (raw.trimStart().startsWith("{")) {
    try {
      const message = JSON.parse(raw) as { content?: { type: string; text?: string }[] };
      return (message.content ?? []).map((b) => (b.type === "text" ? (b.text ?? "") : "")).join("");
    } catch {
      return "";
    }
  }
  let text = "";
  for (const line of raw.split("\n")) {
    if (!line.startsWith("data:")) continue;
    try {
      const event = JSON.parse(line.slice(5)) as { type?: string; delta?: { type?: string; text?: string } };
      if (event.type === "content_block_delta" && event.delta?.type === "text_delta")
        text += event.delta.text ?? "";
    } catch {
      // not an event of ours
    }
  }
  return text;
}

/**
 * Passes a Messages answer through unchanged, keeping a copy of its text for the content log line
 * (used only when prompt logging is on: the whole answer is held in memory until it ends).
 */
export function contentTap(
  body: ReadableStream<Uint8Array>,
  done: (completion: string) => void,
): ReadableStream<Uint8Array> {
  const decoder = new TextDecoder();
  let raw = "";
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        raw += decoder.decode(chunk, { stream: true });
        controller.enqueue(chunk);
      },
      flush() {
        done(completionOf(raw));
      },
    }),
  );
}
