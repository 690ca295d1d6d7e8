/**
 * The gateway benchmark (issue 7), `npm run bench -- gateway`: the emulator called directly versus
 * through the gateway, each in its own child process (emulator-child.ts, gateway-child.ts), the
 * load generated here with undici. Direct means the emulator's `POST /model/{id}/invoke` (and
 * `invoke-with-response-stream`), SigV4-signed: exactly what the gateway calls for a Bedrock target;
 * through the gateway means its Anthropic `POST /v1/messages` (JSON, and SSE with `stream: true`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { DEFAULT_ANTHROPIC_API_KEY } from "../src/emulator/index.js";
import { type BenchChild, spawnChild, stopAll } from "./child-ipc.js";
import type { Row } from "./emulator.js";
import {
  ANTHROPIC_MODEL,
  anthropicBody,
  invokeBody,
  keepAlivePool,
  mb,
  type Pooled,
  rounds,
  signedBedrockCall,
  sseEvents,
  type Target,
  us,
} from "./gateway-load.js";

/** The client benchmark's question: a 150-token answer (50 stream deltas). */
const PROMPT = "Explain why serverless architectures require careful timeout tuning. [[tokens=150]]";
const MAX_TOKENS = 256;
/**
 * 1,000-event answers: the emulator streams 3 tokens per content_block_delta (its default), plus
 * message_start, content_block_start, content_block_stop, message_delta and message_stop; 2,985
 * tokens are 995 deltas, 1,000 events (checked below; the gateway's SSE adds a `ping`: 1,001).
 */
const LONG_TOKENS = 2985;
const LONG_PROMPT = `Explain why serverless architectures require careful timeout tuning. [[tokens=${LONG_TOKENS}]]`;
const LONG_MAX_TOKENS = 4096;
const STREAMS_AT_ONCE = 1000;
/** Pace of the emulator behind the 1,000 concurrent streams: 1,000 events take at least 10 s. */
const PACE_MS = 10;

const GATEWAY_HEADERS = { "content-type": "application/json", "anthropic-version": "2023-06-01" };

export interface GatewayBenchOptions {
  rounds?: number;
  calls?: number;
  concurrentCalls?: number;
  streams?: number;
}

function gatewayTarget(label: string, gateway: BenchChild, connections: number, body: string): Target {
  const pool = keepAlivePool(gateway.url, connections);
  const out = { path: "/v1/messages", headers: GATEWAY_HEADERS, body };
  return { label, pool, server: gateway, make: () => out };
}

function directTarget(
  label: string,
  emulator: BenchChild,
  connections: number,
  operation: "invoke" | "invoke-with-response-stream",
  body: string,
): Target {
  return {
    label,
    pool: keepAlivePool(emulator.url, connections),
    server: emulator,
    make: signedBedrockCall(emulator.url, operation, body),
  };
}

/** The answers must be the same through the gateway and directly, and the long stream 1,000 events. */
async function checkSameWork(direct: Target, gateway: Target, longStream: Target): Promise<number> {
  const read = async (t: Target) => {
    const out = await t.make();
    const r = await t.pool.request({ path: out.path, method: "POST", headers: out.headers, body: out.body });
    const text = await r.body.text();
    if (r.statusCode !== 200) throw new Error(`${t.label}: ${r.statusCode} ${text.slice(0, 300)}`);
    return text;
  };
  type Answer = { content: { text?: string }[]; usage: { output_tokens: number } };
  const a = JSON.parse(await read(direct)) as Answer;
  const b = JSON.parse(await read(gateway)) as Answer;
  const text = (m: Answer) => m.content.map((c) => c.text ?? "").join("");
  if (text(a) !== text(b) || a.usage.output_tokens !== 150 || b.usage.output_tokens !== 150) {
    throw new Error("the gateway's answer differs from the emulator's: the comparison would be void");
  }
  const { events, complete } = sseEvents(await read(longStream));
  if (!complete) throw new Error("the long stream through the gateway did not end in message_stop");
  return events;
}

function directRow(label: string, p: Pooled, note = ""): Row {
  return {
    name: label,
    value: `p50 ${us(p.p50)}, p99 ${us(p.p99)}, ${p.perSecond.toFixed(0)} req/s`,
    note: `emulator CPU ${us(p.cpuUsPerCall)}/req${note}`,
  };
}

function gatewayRow(label: string, p: Pooled, direct: Pooled): Row {
  return {
    name: label,
    value: `p50 ${us(p.p50)}, p99 ${us(p.p99)}, ${p.perSecond.toFixed(0)} req/s; gateway CPU ${us(p.cpuUsPerCall)}/req`,
    note: `added: p50 +${us(p.p50 - direct.p50)}, p99 +${us(p.p99 - direct.p99)}; ${(p.perSecond / direct.perSecond).toFixed(2)}× the direct req/s`,
  };
}

/** 1,000 streams opened at once through a fresh gateway; its RSS sampled every 50 ms. */
export async function manyStreams(gateway: BenchChild): Promise<{
  idleRss: number;
  peakRss: number;
  maxRss: number;
  seconds: number;
  maxActive: number;
  cpuUsPerStream: number;
  events: number;
}> {
  const pool = keepAlivePool(gateway.url, STREAMS_AT_ONCE);
  const body = anthropicBody(ANTHROPIC_MODEL, LONG_PROMPT, LONG_MAX_TOKENS, true);
  try {
    // One stream first, so that the process is warm and its idle RSS is read after a first answer.
    const warm = await pool.request({ path: "/v1/messages", method: "POST", headers: GATEWAY_HEADERS, body });
    const expected = sseEvents(await warm.body.text()).events;
    const idle = await gateway.stats();
    gateway.watch(50);
    let active = 0;
    let maxActive = 0;
    let events = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: STREAMS_AT_ONCE }, async () => {
        const r = await pool.request({
          path: "/v1/messages",
          method: "POST",
          headers: GATEWAY_HEADERS,
          body,
        });
        active++;
        maxActive = Math.max(maxActive, active);
        if (r.statusCode !== 200) {
          const text = (await r.body.text()).slice(0, 300);
          throw new Error(`a stream through ${gateway.name} answered ${r.statusCode}: ${text}`);
        }
        let tail = "";
        let count = 0;
        for await (const chunk of r.body) {
          const text = tail + (chunk as Buffer).toString("latin1");
          let at = text.indexOf("event: ");
          while (at >= 0) {
            count++;
            at = text.indexOf("event: ", at + 7);
          }
          tail = text.slice(-6);
        }
        active--;
        if (r.statusCode !== 200 || count !== expected) {
          throw new Error(`a stream answered ${r.statusCode} with ${count} events (expected ${expected})`);
        }
        events += count;
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const after = await gateway.stats();
    return {
      idleRss: idle.rss,
      peakRss: after.peakRss,
      maxRss: after.maxRss,
      seconds,
      maxActive,
      cpuUsPerStream: (after.cpuUs - idle.cpuUs) / STREAMS_AT_ONCE,
      events,
    };
  } finally {
    await pool.close();
  }
}

export async function benchGateway(options: GatewayBenchOptions = {}): Promise<Row[]> {
  const roundCount = options.rounds ?? 3;
  const calls = options.calls ?? 2000;
  const concurrentCalls = options.concurrentCalls ?? 6000;
  const streams = options.streams ?? 100;
  const dir = mkdtempSync(path.join(os.tmpdir(), "bc-bench-gateway-"));
  const children: (BenchChild | undefined)[] = [];
  const targets: Target[] = [];
  try {
    const emulator = await spawnChild("emulator", "emulator-child");
    children.push(emulator);
    const on = await spawnChild("gateway", "gateway-child", [emulator.url, path.join(dir, "on")]);
    children.push(on);
    const off = await spawnChild("gateway (ledger off)", "gateway-child", [
      emulator.url,
      path.join(dir, "off"),
      "ledger-off",
    ]);
    children.push(off);

    const json = anthropicBody(ANTHROPIC_MODEL, PROMPT, MAX_TOKENS, false);
    const sse = anthropicBody(ANTHROPIC_MODEL, LONG_PROMPT, LONG_MAX_TOKENS, true);
    const make = (connections: number) => ({
      direct: directTarget("direct", emulator, connections, "invoke", invokeBody(PROMPT, MAX_TOKENS)),
      on: gatewayTarget("gateway, ledger on", on, connections, json),
      off: gatewayTarget("gateway, ledger off", off, connections, json),
    });
    const c1 = make(1);
    const c64 = make(64);
    const stream = {
      direct: directTarget(
        "direct stream",
        emulator,
        1,
        "invoke-with-response-stream",
        invokeBody(LONG_PROMPT, LONG_MAX_TOKENS),
      ),
      on: gatewayTarget("gateway stream, ledger on", on, 1, sse),
      off: gatewayTarget("gateway stream, ledger off", off, 1, sse),
    };
    targets.push(...Object.values(c1), ...Object.values(c64), ...Object.values(stream));
    const events = await checkSameWork(c1.direct, c1.on, stream.on);
    // 1,000 events from the emulator; the gateway's SSE adds the Anthropic API's `ping` after the first block start.
    if (events !== 1000 && events !== 1001)
      throw new Error(`[[tokens=${LONG_TOKENS}]] gave ${events} events, not 1,000`);

    const rows: Row[] = [];
    const one = await rounds(Object.values(c1), {
      rounds: roundCount,
      count: calls,
      concurrency: 1,
      warmup: 1000,
    });
    const many = await rounds(Object.values(c64), {
      rounds: roundCount,
      count: concurrentCalls,
      concurrency: 64,
      warmup: 640,
    });
    const streamed = await rounds(Object.values(stream), {
      rounds: roundCount,
      count: streams,
      concurrency: 1,
      warmup: 10,
    });
    for (const [title, result, set] of [
      ["Non-streaming, concurrency 1", one, c1],
      ["Non-streaming, concurrency 64", many, c64],
      ["Streaming 1,000 events, concurrency 1", streamed, stream],
    ] as const) {
      const direct = result.get(set.direct.label)!;
      rows.push(
        directRow(
          `${title}: direct (emulator ${set === stream ? "InvokeModelWithResponseStream" : "InvokeModel"})`,
          direct,
          set === stream ? `; first byte p50 ${us(direct.firstByteP50)}` : "",
        ),
      );
      for (const t of [set.on, set.off]) {
        const p = result.get(t.label)!;
        const row = gatewayRow(`${title}: ${t.label}`, p, direct);
        if (set === stream)
          row.note += `; first byte p50 ${us(p.firstByteP50)} (+${us(p.firstByteP50 - direct.firstByteP50)})`;
        rows.push(row);
      }
    }

    // 1,000 streams open at once need answers that last: a second emulator paced at PACE_MS between
    // events (unpaced, it writes a whole answer in one turn of its event loop and the streams run
    // one after another). A fresh gateway (ledger on) so that the high-water mark is the run's, and
    // beside it the bare Node proxy (the floor: the emulator's Anthropic API piped back, no logic)
    // under the same load, for what any Node process holds with 1,000 streams open.
    const paced = await spawnChild("emulator (paced)", "emulator-child", [String(PACE_MS)]);
    children.push(paced);
    const memory: { label: string; m: Awaited<ReturnType<typeof manyStreams>> }[] = [];
    for (const [label, script, args] of [
      ["our gateway (ledger on), as shipped", "gateway-child", [paced.url, path.join(dir, "streams")]],
      ["floor: bare Node proxy", "proxy-child", [paced.url, DEFAULT_ANTHROPIC_API_KEY]],
    ] as const) {
      const fresh = await spawnChild(label, script, [...args]);
      children.push(fresh);
      memory.push({ label, m: await manyStreams(fresh) });
      await fresh.stop();
    }
    for (const { label, m } of memory) {
      rows.push({
        name: `${STREAMS_AT_ONCE.toLocaleString("en")} streams of 1,000 events sent at once, ${label}`,
        value: `peak RSS ${mb(m.peakRss)} (sampled every 50 ms; kernel high-water mark ${mb(m.maxRss)})`,
        note: `${m.maxActive} streams answering at the same moment at most; idle after one stream ${mb(m.idleRss)}; emulator paced ${PACE_MS} ms between events; ${STREAMS_AT_ONCE} client connections; all done in ${m.seconds.toFixed(1)} s (${Math.round(m.events / m.seconds).toLocaleString("en")} events/s); CPU ${us(m.cpuUsPerStream)}/stream`,
      });
    }
    // The target is judged on our gateway as shipped.
    const shipped = memory[0]!.m;
    const worstRss = Math.max(shipped.peakRss, shipped.maxRss);
    const floorRss = Math.max(memory[1]!.m.peakRss, memory[1]!.m.maxRss);

    // Targets (issue 7), on the ledger-on figures (the default).
    const d1 = one.get(c1.direct.label)!;
    const g1 = one.get(c1.on.label)!;
    const cpu = Math.max(g1.cpuUsPerCall, many.get(c64.on.label)!.cpuUsPerCall);
    const verdict = (ok: boolean) => (ok ? "met" : "missed");
    rows.push(
      {
        name: "Target: added p50 under 0.5 ms at concurrency 1 (ledger on)",
        value: verdict(g1.p50 - d1.p50 < 500),
        note: `+${us(g1.p50 - d1.p50)}`,
      },
      {
        name: "Target: added p99 under 2 ms at concurrency 1 (ledger on)",
        value: verdict(g1.p99 - d1.p99 < 2000),
        note: `+${us(g1.p99 - d1.p99)}`,
      },
      {
        name: "Target: under 150 µs of gateway CPU per non-streaming request (ledger on)",
        value: verdict(cpu < 150),
        note: `${us(cpu)} (the higher of concurrency 1 and 64); ledger off: ${us(one.get(c1.off.label)!.cpuUsPerCall)}`,
      },
      {
        name: "Target: 1,000 concurrent streams under 256 MB RSS",
        value: verdict(worstRss < 256 * 1024 * 1024),
        note: `peak ${mb(worstRss)} as shipped, ${shipped.maxActive} streams answering at once; the bare Node proxy under the same load: ${mb(floorRss)}`,
      },
      {
        name: "Setup",
        value: `${roundCount} rounds, latencies pooled`,
        note: `${calls} calls per round at concurrency 1, ${concurrentCalls} at 64, ${streams} streams of 1,000 events (${events} SSE events through the gateway); warm-up before each; targets of a set back to back, order rotated each round; emulator, gateway(s) and this load generator (undici Pool, keep-alive) in separate processes on one machine, all on 127.0.0.1; "added" is the difference of the percentiles; CPU is the serving child's process.cpuUsage() over the calls; direct calls are signed once a minute (no signing cost per call); gateway as shipped (request log to stdout, read by the parent), open on loopback (no keys), SigV4 to the emulator, default resilience`,
      },
    );
    return rows;
  } finally {
    await Promise.allSettled(targets.map((t) => t.pool.close()));
    await stopAll(children);
    rmSync(dir, { recursive: true, force: true });
  }
}
