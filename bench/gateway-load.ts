/**
 * The load generator of the gateway benchmarks (bench/gateway.ts, bench/peers.ts): undici keep-alive
 * pools and `request()`, each call timed with `process.hrtime.bigint()` from just before the request
 * is handed to undici to the last byte of the answer, and the CPU time of the process serving it
 * read from that (child) process before and after.
 */
import { Pool } from "undici";
import { RequestSigner } from "../src/aws/sign.js";
import type { BenchChild } from "./child-ipc.js";

export const BEDROCK_MODEL = "us.anthropic.claude-sonnet-4-6";
export const ANTHROPIC_MODEL = "claude-sonnet-4-6";
export const REGION = "us-west-2";
export const CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

export interface Outgoing {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** One way of asking the same question: where, and how (`make` may sign, outside the timing). */
export interface Target {
  label: string;
  pool: Pool;
  make(): Outgoing | Promise<Outgoing>;
  /** The process whose CPU is counted per request (the gateway; the emulator for direct calls). */
  server: BenchChild;
}

export interface Sample {
  /** Per call, µs, to the last byte. */
  latencies: number[];
  /** Per call, µs, to the response headers. */
  firstByte: number[];
  seconds: number;
  count: number;
  /** CPU time of `target.server` per call, µs. */
  cpuUsPerCall: number;
  bytes: number;
}

export function keepAlivePool(origin: string, connections: number): Pool {
  return new Pool(origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
    headersTimeout: 120_000,
    bodyTimeout: 120_000,
  });
}

/** Anthropic Messages body, and the same question for InvokeModel and Converse. */
export function anthropicBody(model: string, prompt: string, maxTokens: number, stream: boolean): string {
  return JSON.stringify({
    model,
    max_tokens: maxTokens,
    messages: [{ role: "user", content: prompt }],
    ...(stream ? { stream: true } : {}),
  });
}

export function invokeBody(prompt: string, maxTokens: number): string {
  return JSON.stringify({
    anthropic_version: "bedrock-2023-05-31",
    max_tokens: maxTokens,
    messages: [{ role: "user", content: prompt }],
  });
}

export function converseBody(prompt: string, maxTokens: number): string {
  return JSON.stringify({
    messages: [{ role: "user", content: [{ text: prompt }] }],
    inferenceConfig: { maxTokens },
  });
}

/**
 * A Bedrock runtime call to the emulator, SigV4-signed as the gateway signs it; the signature is
 * computed once a minute (the emulator allows five minutes of skew and does not refuse replays), so
 * the direct calls carry no signing cost.
 */
export function signedBedrockCall(
  emulatorUrl: string,
  operation: "invoke" | "invoke-with-response-stream" | "converse" | "converse-stream",
  body: string,
): () => Promise<Outgoing> {
  const signer = new RequestSigner("bedrock", REGION, async () => CREDENTIALS);
  const url = new URL(`${emulatorUrl}/model/${encodeURIComponent(BEDROCK_MODEL)}/${operation}`);
  const bytes = new TextEncoder().encode(body);
  const accept = operation.endsWith("stream") ? "application/vnd.amazon.eventstream" : "application/json";
  let cached: { at: number; out: Outgoing } | undefined;
  return async () => {
    const now = Date.now();
    if (!cached || now - cached.at > 60_000) {
      const headers = await signer.sign({
        method: "POST",
        url,
        headers: { "content-type": "application/json", accept },
        body: bytes,
      });
      cached = { at: now, out: { path: url.pathname, headers: { ...headers, host: url.host }, body } };
    }
    return cached.out;
  };
}

/** One call: status 200 or it throws; the answer drained (and its size counted). */
export async function call(
  target: Target,
  out: Outgoing,
): Promise<{ total: number; firstByte: number; bytes: number }> {
  const started = process.hrtime.bigint();
  const response = await target.pool.request({
    path: out.path,
    method: "POST",
    headers: out.headers,
    body: out.body,
  });
  const headersAt = process.hrtime.bigint();
  let bytes = 0;
  for await (const chunk of response.body) bytes += (chunk as Buffer).length;
  const ended = process.hrtime.bigint();
  if (response.statusCode !== 200) {
    throw new Error(`${target.label}: status ${response.statusCode}`);
  }
  return { total: Number(ended - started) / 1000, firstByte: Number(headersAt - started) / 1000, bytes };
}

/** `count` calls, `concurrency` at a time, after `warmup` calls at the same concurrency. */
export async function measure(
  target: Target,
  count: number,
  concurrency: number,
  warmup: number,
): Promise<Sample> {
  const run = async (n: number, sink?: Sample) => {
    let next = 0;
    const worker = async () => {
      while (next < n) {
        next++;
        const out = await target.make();
        const r = await call(target, out);
        if (sink) {
          sink.latencies.push(r.total);
          sink.firstByte.push(r.firstByte);
          sink.bytes += r.bytes;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  };
  await run(warmup);
  const sample: Sample = { latencies: [], firstByte: [], seconds: 0, count, cpuUsPerCall: 0, bytes: 0 };
  const before = await target.server.stats();
  const started = process.hrtime.bigint();
  await run(count, sample);
  sample.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const after = await target.server.stats();
  sample.cpuUsPerCall = (after.cpuUs - before.cpuUs) / count;
  return sample;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The samples of several rounds: latencies pooled, rates and CPU as the median of the rounds. */
export interface Pooled {
  p50: number;
  p99: number;
  firstByteP50: number;
  perSecond: number;
  cpuUsPerCall: number;
  calls: number;
  bytesPerCall: number;
}

export function pool(samples: Sample[]): Pooled {
  const latencies = samples.flatMap((s) => s.latencies);
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    firstByteP50: percentile(
      samples.flatMap((s) => s.firstByte),
      50,
    ),
    perSecond: median(samples.map((s) => s.count / s.seconds)),
    cpuUsPerCall: median(samples.map((s) => s.cpuUsPerCall)),
    calls: latencies.length,
    bytesPerCall: samples.reduce((a, s) => a + s.bytes, 0) / latencies.length,
  };
}

/**
 * Rounds over a set of targets measured back to back, their order rotated each round (so that they
 * share the machine's conditions); returns the pooled figures per target label.
 */
export async function rounds(
  targets: Target[],
  options: { rounds: number; count: number; concurrency: number; warmup: number },
): Promise<Map<string, Pooled>> {
  const samples = new Map<string, Sample[]>();
  for (let round = 0; round < options.rounds; round++) {
    const shift = round % targets.length;
    const order = [...targets.slice(shift), ...targets.slice(0, shift)];
    for (const target of round % 2 === 1 ? order.reverse() : order) {
      const s = await measure(target, options.count, options.concurrency, options.warmup);
      samples.set(target.label, [...(samples.get(target.label) ?? []), s]);
    }
  }
  return new Map([...samples].map(([label, list]) => [label, pool(list)]));
}

export const us = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(1)} ms` : `${v.toFixed(0)} µs`);
export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

/** Counts `event: ` lines of an SSE answer and checks it ends in message_stop. */
export function sseEvents(text: string): { events: number; complete: boolean } {
  const events = text.split("\n").filter((l) => l.startsWith("event: ")).length;
  return { events, complete: /event: message_stop\n/.test(text) };
}
