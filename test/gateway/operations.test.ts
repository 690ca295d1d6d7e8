/**
 * The gateway in operation: bad input (oversize, malformed), client disconnects mid-stream
 * (upstream cancelled, the ledger still records), graceful shutdown (in-flight streams finish),
 * health and readiness, Prometheus metrics that agree with the ledger, structured logs without
 * secrets or prompts, OpenTelemetry spans to a collector, and the `serve` command itself.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import http from "node:http";
import path from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import { afterAll, describe, expect, it } from "vitest";
import { startGateway } from "../../src/gateway/index.js";
import { CLI_MAIN } from "../helpers.js";
import { emulatorTarget, useGateway } from "./gateway-helpers.js";

const MODEL = "claude-sonnet-4-6";
const body = (content: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: MODEL, max_tokens: 256, messages: [{ role: "user", content }], ...extra });

describe("bad input", () => {
  const harness = useGateway(() => ({ limits: { maxBodyBytes: 4096 } }));

  const post = (payload: string, headers: Record<string, string> = {}) =>
    fetch(`${harness.gateway.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: payload,
    });

  it("a body over the limit gets 413 request_too_large, before any upstream call", async () => {
    const before = harness.emulator.requests().length;
    const response = await post(body("x".repeat(10_000)));
    expect(response.status).toBe(413);
    const json = (await response.json()) as { type: string; error: { type: string; message: string } };
    expect(json).toMatchObject({ type: "error", error: { type: "request_too_large" } });
    expect(json.error.message).toContain("4096 bytes");
    expect(response.headers.get("request-id")).toMatch(/^req_/);
    expect(harness.emulator.requests().length).toBe(before);
  });

  it("a chunked body without content-length is cut off at the limit too", async () => {
    const big = body("y".repeat(10_000));
    const response = await fetch(`${harness.gateway.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(big));
          controller.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(413);
  });

  it("malformed JSON, a non-object body and a missing model get 400 invalid_request_error", async () => {
    for (const payload of ["{not json", "[1,2]", JSON.stringify({ max_tokens: 5, messages: [] })]) {
      const response = await post(payload);
      expect(response.status).toBe(400);
      const json = (await response.json()) as { type: string; error: { type: string; message: string } };
      expect(json.type).toBe("error");
      expect(json.error.type).toBe("invalid_request_error");
      expect(json.error.message.length).toBeGreaterThan(5);
    }
  });

  it("an unknown route gets 404 not_found_error in Anthropic's shape; the process keeps serving", async () => {
    const response = await fetch(`${harness.gateway.url}/v1/completions`, { method: "POST", body: "{}" });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { type: string } }).error.type).toBe("not_found_error");
    expect((await fetch(`${harness.gateway.url}/healthz`)).status).toBe(200);
  });
});

describe("streams, disconnects and shutdown", () => {
  // 20 ms between stream events: a 200-token answer takes about 1.4 s.
  const harness = useGateway(() => ({}), { config: { pace: { firstByteMs: 0, eventMs: 20 } } });

  it("a client that goes away mid-stream cancels the upstream request; the ledger records the partial stream", async () => {
    const controller = new AbortController();
    const response = await fetch(`${harness.gateway.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: body("Abandon me [[tokens=300]]", { stream: true }),
      signal: controller.signal,
    });
    const requestId = response.headers.get("request-id")!;
    const reader = response.body!.getReader();
    let seen = "";
    while (!seen.includes("content_block_delta"))
      seen += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    await reader.cancel().catch(() => undefined);

    const deadline = Date.now() + 5000;
    let upstream = harness.emulator.requests().at(-1);
    while (upstream?.outcome !== "client_closed" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      upstream = harness.emulator.requests().at(-1);
    }
    expect(upstream?.outcome).toBe("client_closed");
    let recorded = harness
      .ledger()
      .requests({ since: 0 })
      .find((r) => r.id === requestId);
    while (!recorded && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
      recorded = harness
        .ledger()
        .requests({ since: 0 })
        .find((r) => r.id === requestId);
    }
    expect(recorded?.partial).toBe(true);
    expect(recorded?.errorName).toBe("client_closed");
    expect(recorded?.inputTokens).toBeGreaterThan(0);
  });

  it("close() lets in-flight streams finish, refuses new connections, then resolves", async () => {
    const gateway = await startGateway({
      port: 0,
      ...emulatorTarget(harness.emulator),
      ledger: { path: path.join(harness.dir, "drain-ledger.db") },
      keys: { path: path.join(harness.dir, "drain-keys.db") },
      logging: { sink: () => undefined },
    });
    const client = new Anthropic({ baseURL: gateway.url, apiKey: "x", maxRetries: 0 });
    const stream = client.messages.stream({
      model: MODEL,
      max_tokens: 256,
      messages: [{ role: "user", content: "Finish me [[tokens=60]]" }],
    });
    await new Promise<void>((resolve) => stream.once("text", () => resolve()));
    const closed = gateway.close();
    const final = await stream.finalMessage();
    expect(final.stop_reason).toBe("end_turn");
    expect(final.usage.output_tokens).toBe(60);
    await closed;
    await expect(fetch(`${gateway.url}/healthz`)).rejects.toThrow();
  });
});

describe("health, metrics, logs", () => {
  const harness = useGateway();

  it("healthz is up; readyz runs the doctor's checks on the chain and says which target is ready", async () => {
    expect(await (await fetch(`${harness.gateway.url}/healthz`)).json()).toEqual({ status: "ok" });
    const ready = await fetch(`${harness.gateway.url}/readyz`);
    const state = (await ready.json()) as { ready: boolean; targets: { target: string; ready: boolean }[] };
    expect(ready.status).toBe(200);
    expect(state.ready).toBe(true);
    expect(state.targets).toEqual([{ target: "bedrock us-west-2", ready: true }]);
  });

  it("readyz answers 503 naming the broken link when no target can be used", async () => {
    const broken = await startGateway({
      port: 0,
      ...emulatorTarget(harness.emulator),
      credentials: { accessKeyId: "AKIAUNKNOWN", secretAccessKey: "wrong" },
      ledger: false,
      keys: { path: path.join(harness.dir, "broken-keys.db") },
      logging: { sink: () => undefined },
    });
    const ready = await fetch(`${broken.url}/readyz`);
    expect(ready.status).toBe(503);
    const state = (await ready.json()) as { ready: boolean; targets: { ready: boolean; problem?: string }[] };
    expect(state.targets[0]?.ready).toBe(false);
    expect(state.targets[0]?.problem).toBeTruthy();
    await broken.close();
  });

  it("metrics count tokens and cost per model and key exactly as the ledger does", async () => {
    const client = new Anthropic({ baseURL: harness.gateway.url, apiKey: "x", maxRetries: 0 });
    await client.messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: [{ role: "user", content: "m1" }],
    });
    await client.messages
      .stream({ model: MODEL, max_tokens: 64, messages: [{ role: "user", content: "m2" }] })
      .finalMessage();
    harness.emulator.setFaults({ rules: [{ error: "ThrottlingException", rate: 1 }] });
    await client.messages
      .create({ model: MODEL, max_tokens: 64, messages: [{ role: "user", content: "m3" }] })
      .catch(() => undefined);
    harness.emulator.clearFaults();

    const text = await (await fetch(`${harness.gateway.url}/metrics`)).text();
    const value = (line: string) =>
      Number(
        text
          .split("\n")
          .find((l) => l.startsWith(line))
          ?.split(" ")
          .at(-1),
      );
    const rows = harness.ledger().report({ since: 0, by: [] });
    expect(value('bedrock_claude_tokens_total{model="claude-sonnet-4-6",key="anonymous",type="input"}')).toBe(
      rows[0]!.inputTokens,
    );
    expect(
      value('bedrock_claude_tokens_total{model="claude-sonnet-4-6",key="anonymous",type="output"}'),
    ).toBe(rows[0]!.outputTokens);
    expect(value('bedrock_claude_cost_usd_total{model="claude-sonnet-4-6",key="anonymous"}')).toBeCloseTo(
      rows[0]!.costUsd,
      9,
    );
    expect(
      value('bedrock_claude_requests_total{model="claude-sonnet-4-6",key="anonymous",status="429"}'),
    ).toBe(1);
    expect(
      value('bedrock_claude_upstream_attempts_total{target="bedrock us-west-2",outcome="success"}'),
    ).toBe(2);
    expect(text).toContain("bedrock_claude_time_to_first_byte_seconds_bucket");
    expect(text).toContain("bedrock_claude_ledger_lag_seconds");
    expect(text).toMatch(/bedrock_claude_http_requests_total\{route="\/v1\/messages",status="200"\} 2/);
  });

  it("one JSON log line per request, with key, model, target, tokens, cost and latency; no prompt text", async () => {
    const lines = harness.logs.filter((l) => l.msg === "request");
    expect(lines.length).toBeGreaterThanOrEqual(3);
    const line = lines.find((l) => l.status === 200)!;
    expect(line).toMatchObject({
      key: "anonymous",
      model: MODEL,
      target: "bedrock us-west-2",
      route: "/v1/messages",
    });
    expect(typeof line.requestId).toBe("string");
    expect(line.inputTokens).toBeGreaterThan(0);
    expect(typeof line.costUsd).toBe("number");
    expect(typeof line.totalMs).toBe("number");
    const all = JSON.stringify(harness.logs);
    expect(all).not.toContain("m1");
    expect(all).not.toContain('"test"');
  });
});

/** An OTLP/HTTP collector (JSON), listening before any gateway starts. */
const spans: Record<string, unknown>[] = [];
const collector = http.createServer((req, res) => {
  let text = "";
  req.on("data", (chunk) => {
    text += chunk;
  });
  req.on("end", () => {
    const json = JSON.parse(text) as {
      resourceSpans: { scopeSpans: { spans: Record<string, unknown>[] }[] }[];
    };
    for (const r of json.resourceSpans) for (const s of r.scopeSpans) spans.push(...s.spans);
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
});
collector.listen(0, "127.0.0.1");
await once(collector, "listening");
const collectorUrl = `http://127.0.0.1:${(collector.address() as { port: number }).port}/v1/traces`;
afterAll(() => {
  collector.close();
});

describe("prompt logging, secrets and tracing", () => {
  const harness = useGateway(() => ({
    logging: {
      prompts: true,
      sink: (line: string) => harness.logs.push(JSON.parse(line) as Record<string, unknown>),
    },
    otel: { endpoint: collectorUrl, serviceName: "gateway-under-test" },
  }));

  it("with prompts on, the prompt is logged; the key never is", async () => {
    const created = harness.gateway.keys.create({ name: "traced" });
    const client = new Anthropic({ baseURL: harness.gateway.url, apiKey: created.token, maxRetries: 0 });
    await client.messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: [{ role: "user", content: "Trace me" }],
    });
    const line = harness.logs.find((l) => l.msg === "request" && l.key === "traced")!;
    expect(JSON.stringify(line)).not.toContain("Trace me");
    const content = harness.logs.find((l) => l.msg === "content" && l.requestId === line.requestId)!;
    expect(JSON.stringify(content.prompt)).toContain("Trace me");
    expect(content.completion).toContain('You said: "Trace me"');
    // Streams too: the text deltas, joined.
    const streamed = await client.messages
      .stream({ model: MODEL, max_tokens: 64, messages: [{ role: "user", content: "Stream and log me" }] })
      .finalMessage();
    // The line is written when the stream's end passes the gateway, which may follow the SDK's last event.
    const deadline = Date.now() + 2000;
    while (harness.logs.filter((l) => l.msg === "content").length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const streamedLine = harness.logs.findLast((l) => l.msg === "content")!;
    expect(streamedLine.completion).toBe(
      streamed.content.map((b) => (b.type === "text" ? b.text : "")).join(""),
    );
    expect(JSON.stringify(harness.logs)).not.toContain(created.token);
    expect(JSON.stringify(harness.logs)).not.toContain(created.secretAccessKey);
  });

  it("exports a GenAI span per request to the collector", async () => {
    const deadline = Date.now() + 5000;
    while (spans.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const span = spans.find((s) => s.name === `chat ${MODEL}`)!;
    expect(span).toBeDefined();
    const attributes = Object.fromEntries(
      (span.attributes as { key: string; value: Record<string, unknown> }[]).map((a) => [
        a.key,
        Object.values(a.value)[0],
      ]),
    );
    expect(attributes["gen_ai.operation.name"]).toBe("chat");
    expect(attributes["gen_ai.provider.name"]).toBe("aws.bedrock");
    expect(attributes["gen_ai.request.model"]).toBe(MODEL);
    expect(attributes["gen_ai.response.model"]).toBe("us.anthropic.claude-sonnet-4-6");
    expect(Number(attributes["gen_ai.usage.input_tokens"])).toBeGreaterThan(0);
    expect(attributes["bedrock_claude.key"]).toBe("traced");
  });
});

describe("bedrock-claude serve", () => {
  it("serve --emulator answers through the gateway and stops cleanly on SIGTERM", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", CLI_MAIN, "serve", "--emulator", "--port", "0", "--quiet"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
        const match = /gateway on (\S+)/.exec(stderr);
        if (match) resolve(match[1]!);
      });
      child.on("exit", (code) => reject(new Error(`serve exited (${code}): ${stderr}`)));
    });
    const client = new Anthropic({ baseURL: url, apiKey: "any", maxRetries: 0 });
    const message = await client.messages.create({
      model: MODEL,
      max_tokens: 32,
      messages: [{ role: "user", content: "from the CLI" }],
    });
    expect(message.model).toBe(MODEL);
    expect(stderr).toContain("open mode");
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const [code] = await exited;
    expect(code).toBe(0);
  });
});
