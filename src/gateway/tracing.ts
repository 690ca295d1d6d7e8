/**
 * OpenTelemetry traces for the gateway's model calls, when a collector is configured: one span
 * per request, named and attributed after the GenAI semantic conventions (`chat {model}`,
 * `gen_ai.*`), with one event per upstream attempt, exported over OTLP/HTTP. The span is made
 * from the ledger's record, with the request's real start and end times, so traces, metrics and
 * the ledger tell the same story.
 */
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { LedgerRequest } from "../usage/ledger.js";

export interface TracingOptions {
  /** OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces. */
  endpoint: string;
  serviceName?: string;
}

/** `gen_ai.provider.name` values of the conventions for our providers. */
const PROVIDER_NAME: Record<string, string> = {
  bedrock: "aws.bedrock",
  "bedrock-mantle": "aws.bedrock",
  anthropic: "anthropic",
};

export class GatewayTracing {
  private readonly provider: BasicTracerProvider;

  constructor(options: TracingOptions) {
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ "service.name": options.serviceName ?? "bedrock-claude-gateway" }),
      spanProcessors: [
        new BatchSpanProcessor(new OTLPTraceExporter({ url: options.endpoint }), {
          scheduledDelayMillis: 1000,
        }),
      ],
    });
  }

  recorded(entry: LedgerRequest, route: string | undefined): void {
    const model = entry.anthropicName ?? entry.modelRequested;
    const tracer = this.provider.getTracer("bedrock-claude");
    const span = tracer.startSpan(`chat ${entry.modelRequested}`, {
      kind: SpanKind.CLIENT,
      startTime: entry.time,
      attributes: {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": PROVIDER_NAME[entry.provider] ?? entry.provider,
        "gen_ai.request.model": entry.modelRequested,
        ...(entry.modelResolved ? { "gen_ai.response.model": entry.modelResolved } : {}),
        "gen_ai.usage.input_tokens": entry.inputTokens,
        "gen_ai.usage.output_tokens": entry.outputTokens,
        ...(entry.stopReason ? { "gen_ai.response.finish_reasons": [entry.stopReason] } : {}),
        ...(entry.upstreamRequestId ? { "gen_ai.response.id": entry.upstreamRequestId } : {}),
        "cloud.region": entry.region,
        "bedrock_claude.request_id": entry.id,
        "bedrock_claude.model": model,
        "bedrock_claude.target": entry.target,
        "bedrock_claude.key": entry.key ?? "anonymous",
        "bedrock_claude.stream": entry.stream,
        "bedrock_claude.failover": entry.failover,
        ...(entry.costUsd !== null ? { "bedrock_claude.cost_usd": entry.costUsd } : {}),
        ...(entry.firstByteMs !== null ? { "bedrock_claude.time_to_first_byte_ms": entry.firstByteMs } : {}),
        ...(route ? { "http.route": route } : {}),
      },
    });
    for (const attempt of entry.attempts) {
      span.addEvent("upstream attempt", {
        "bedrock_claude.attempt": attempt.attempt,
        "bedrock_claude.target": attempt.target,
        "bedrock_claude.verdict": attempt.verdict,
        ...(attempt.status !== null ? { "http.response.status_code": attempt.status } : {}),
        ...(attempt.errorName ? { "error.type": attempt.errorName } : {}),
        "bedrock_claude.latency_ms": attempt.latencyMs,
      });
    }
    if (entry.status >= 400 || entry.status === 0 || entry.errorName) {
      span.setAttribute("error.type", entry.errorName ?? `http_${entry.status}`);
      span.setStatus({ code: SpanStatusCode.ERROR, message: entry.errorName ?? `HTTP ${entry.status}` });
    }
    span.end(entry.time + entry.totalMs);
  }

  /** Sends what is buffered, then stops. */
  async close(): Promise<void> {
    await this.provider.shutdown();
  }
}
