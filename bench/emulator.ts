/**
 * Emulator benchmarks: start time (in-process and the CLI), request throughput and latency with
 * the official AWS SDK (SigV4 over HTTP/2) and with fetch (Bearer key over HTTP/1.1), and the
 * per-call cost of the hot pieces (SigV4 verification, event-stream encoding).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  BedrockRuntimeClient,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
} from "@aws-sdk/client-bedrock-runtime";
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import { verifySigV4 } from "../src/aws/sigv4-verify.js";
import { encodeChunkEvent } from "../src/bedrock/event-stream.js";
import { startEmulator } from "../src/emulator/index.js";

export interface Row {
  name: string;
  value: string;
  note?: string;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

async function cliStart(): Promise<number> {
  const main = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
  const started = performance.now();
  const child = spawn(process.execPath, [main, "emulate", "--port", "0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("listening on")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`emulate exited ${code}`)));
  });
  const elapsed = performance.now() - started;
  child.kill("SIGTERM");
  await new Promise((r) => child.on("exit", r));
  return elapsed;
}

async function timeCalls(
  count: number,
  call: () => Promise<void>,
): Promise<{ perSecond: number; p50: number; p99: number }> {
  for (let i = 0; i < 20; i++) await call(); // warm-up
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await call();
    latencies.push(performance.now() - t);
  }
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: count / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

function perOp(iterations: number, fn: () => unknown): number {
  for (let i = 0; i < 200; i++) fn();
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return Number(process.hrtime.bigint() - started) / iterations / 1000;
}

async function perOpAsync(iterations: number, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 200; i++) await fn();
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await fn();
  return Number(process.hrtime.bigint() - started) / iterations / 1000;
}

export async function benchEmulator(): Promise<Row[]> {
  const rows: Row[] = [];

  const inProcess: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    const emu = await startEmulator({ port: 0 });
    inProcess.push(performance.now() - t);
    await emu.close();
  }
  rows.push({
    name: "startEmulator() to listening (median of 10)",
    value: `${median(inProcess).toFixed(1)} ms`,
  });

  const cli: number[] = [];
  for (let i = 0; i < 5; i++) cli.push(await cliStart());
  rows.push({
    name: "`bedrock-claude emulate` process start to URL printed (median of 5)",
    value: `${median(cli).toFixed(0)} ms`,
    note: "target: under 1 s",
  });

  const emu = await startEmulator({ port: 0 });
  const body = JSON.stringify({
    anthropic_version: "bedrock-2023-05-31",
    max_tokens: 256,
    messages: [
      { role: "user", content: "Explain why serverless architectures require careful timeout tuning." },
    ],
  });
  const sdk = new BedrockRuntimeClient({
    region: "us-east-1",
    endpoint: emu.url,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  const invoke = await timeCalls(1000, async () => {
    await sdk.send(new InvokeModelCommand({ modelId: "us.anthropic.claude-sonnet-4-6", body }));
  });
  rows.push({
    name: "InvokeModel, AWS SDK (SigV4, HTTP/2), sequential",
    value: `${invoke.perSecond.toFixed(0)} req/s`,
    note: `p50 ${invoke.p50.toFixed(2)} ms, p99 ${invoke.p99.toFixed(2)} ms`,
  });
  const stream = await timeCalls(500, async () => {
    const r = await sdk.send(
      new InvokeModelWithResponseStreamCommand({ modelId: "us.anthropic.claude-sonnet-4-6", body }),
    );
    for await (const _ of r.body!) {
      // drain
    }
  });
  rows.push({
    name: "InvokeModelWithResponseStream, AWS SDK, drained, sequential",
    value: `${stream.perSecond.toFixed(0)} req/s`,
    note: `p50 ${stream.p50.toFixed(2)} ms, p99 ${stream.p99.toFixed(2)} ms`,
  });
  const bearer = await timeCalls(1000, async () => {
    const r = await fetch(`${emu.url}/model/us.anthropic.claude-sonnet-4-6/invoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${emu.credentials.apiKey}`, "content-type": "application/json" },
      body,
    });
    await r.arrayBuffer();
  });
  rows.push({
    name: "InvokeModel, fetch (Bearer key, HTTP/1.1), sequential",
    value: `${bearer.perSecond.toFixed(0)} req/s`,
    note: `p50 ${bearer.p50.toFixed(2)} ms, p99 ${bearer.p99.toFixed(2)} ms`,
  });
  await emu.close();

  const signer = new SignatureV4({
    service: "bedrock",
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    sha256: Hash.bind(null, "sha256"),
  });
  const bytes = new TextEncoder().encode(body);
  const signed = await signer.sign({
    method: "POST",
    protocol: "http:",
    hostname: "127.0.0.1",
    path: "/model/us.anthropic.claude-sonnet-4-6/invoke",
    query: {},
    headers: { host: "127.0.0.1:4010", "content-type": "application/json" },
    body: bytes,
  });
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers)) headers[k.toLowerCase()] = String(v);
  const verifyUs = await perOpAsync(5000, () =>
    verifySigV4(
      {
        method: "POST",
        rawPath: "/model/us.anthropic.claude-sonnet-4-6/invoke",
        rawQuery: "",
        headers,
        body: bytes,
      },
      { services: ["bedrock"], lookup: () => ({ secretAccessKey: "test" }) },
    ),
  );
  rows.push({ name: "verifySigV4, one request", value: `${verifyUs.toFixed(1)} µs` });
  const event = JSON.stringify({
    type: "content_block_delta",
    index: 0,
    delta: { type: "text_delta", text: " serverless timeouts" },
  });
  rows.push({
    name: "encodeChunkEvent, one delta",
    value: `${perOp(50_000, () => encodeChunkEvent(event, "abcdefgh")).toFixed(2)} µs`,
  });
  return rows;
}
