/**
 * `npm run bench:peers` (issue 8): one emulator with no added latency, called directly, through our
 * gateway and through the open-source Portkey gateway (`@portkey-ai/gateway`, its Node server),
 * each in its own child process on 127.0.0.1, serving the same Anthropic `/v1/messages` requests
 * (JSON and SSE) from a load generator here (undici). Our gateway calls the emulator's InvokeModel
 * (`/model/{id}/invoke`, `invoke-with-response-stream`); Portkey calls its Converse (`converse`,
 * `converse-stream`): each gateway's added latency is measured against a direct call of the
 * operation it makes. Prints the table and prepends a dated section to bench/RESULTS.md.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { DEFAULT_ANTHROPIC_API_KEY } from "../src/emulator/index.js";
import { type BenchChild, spawnChild, stopAll } from "./child-ipc.js";
import type { Row } from "./emulator.js";
import {
  ANTHROPIC_MODEL,
  anthropicBody,
  BEDROCK_MODEL,
  CREDENTIALS,
  converseBody,
  invokeBody,
  keepAlivePool,
  mb,
  type Pooled,
  REGION,
  rounds,
  signedBedrockCall,
  type Target,
  us,
} from "./gateway-load.js";
import { prependResults, table } from "./results.js";

const PROMPT = "Explain why serverless architectures require careful timeout tuning. [[tokens=150]]";
const MAX_TOKENS = 256;
const CONCURRENCY = [1, 16] as const;

type Mode = "json" | "sse";
interface Peer {
  name: string;
  /** The direct calls it is compared with (the operation it makes upstream), JSON and SSE. */
  baseline: string;
  sseBaseline: string;
  child: BenchChild;
  target(mode: Mode, connections: number): Target;
}

function portkeyHeaders(emulatorUrl: string): Record<string, string> {
  return {
    "content-type": "application/json",
    "anthropic-version": "2023-06-01",
    "x-portkey-provider": "bedrock",
    "x-portkey-aws-access-key-id": CREDENTIALS.accessKeyId,
    "x-portkey-aws-secret-access-key": CREDENTIALS.secretAccessKey,
    "x-portkey-aws-region": REGION,
    "x-portkey-custom-host": emulatorUrl,
  };
}

/** Same answer text from every path, and the emulator saw the operations we say each one makes. */
async function checkSameWork(emulator: BenchChild, peers: Peer[], directs: Target[]): Promise<void> {
  await request(`${emulator.url}/_emulator/requests`, { method: "DELETE" }).then((r) => r.body.dump());
  const texts = new Map<string, string>();
  for (const t of [...directs, ...peers.flatMap((p) => [p.target("json", 1), p.target("sse", 1)])]) {
    const out = await t.make();
    const r = await t.pool.request({ path: out.path, method: "POST", headers: out.headers, body: out.body });
    const raw = await r.body.text();
    if (r.statusCode !== 200) throw new Error(`${t.label}: ${r.statusCode} ${raw.slice(0, 300)}`);
    let text = "";
    if (raw.startsWith("{")) {
      const json = JSON.parse(raw) as {
        content?: { text?: string }[];
        output?: { message: { content: { text?: string }[] } };
      };
      text = (json.content ?? json.output?.message.content ?? []).map((c) => c.text ?? "").join("");
    } else if (raw.startsWith("event:")) {
      // Anthropic SSE: the text deltas, in order; it must end in message_stop.
      if (!raw.includes("event: message_stop")) throw new Error(`${t.label}: the stream did not finish`);
      for (const line of raw.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const data = JSON.parse(line.slice(6)) as { delta?: { type?: string; text?: string } };
        if (data.delta?.type === "text_delta") text += data.delta.text;
      }
    }
    if (text) texts.set(t.label, text);
    await t.pool.close();
  }
  if (new Set(texts.values()).size !== 1) {
    throw new Error(
      `the answers differ: ${[...texts].map(([k, v]) => `${k}: ${v.slice(0, 80)}`).join(" | ")}`,
    );
  }
  const journal = (await (await request(`${emulator.url}/_emulator/requests`)).body.json()) as {
    requests: { operation: string; status: number }[];
  };
  const ops = journal.requests.map((r) => `${r.operation} ${r.status}`).join(", ");
  const expected = [
    "InvokeModel 200",
    "Converse 200",
    "InvokeModel 200",
    "InvokeModelWithResponseStream 200",
    "Converse 200",
    "ConverseStream 200",
  ].join(", ");
  if (ops !== expected) throw new Error(`the emulator saw ${ops}; expected ${expected}`);
}

export async function benchPeers(
  options: { rounds?: number; calls?: number; streams?: number } = {},
): Promise<{ rows: Row[]; summary: string }> {
  const roundCount = options.rounds ?? 3;
  const calls = options.calls ?? 1000;
  const streams = options.streams ?? 500;
  const dir = mkdtempSync(path.join(os.tmpdir(), "bc-bench-peers-"));
  const children: (BenchChild | undefined)[] = [];
  const pools: Target[] = [];
  try {
    const emulator = await spawnChild("emulator", "emulator-child");
    children.push(emulator);
    const ours = await spawnChild("gateway", "gateway-child", [emulator.url, dir]);
    children.push(ours);
    const portkey = await spawnChild("portkey", "portkey-child");
    children.push(portkey);
    const floor = await spawnChild("bare Node proxy", "proxy-child", [
      emulator.url,
      DEFAULT_ANTHROPIC_API_KEY,
    ]);
    children.push(floor);

    const track = (t: Target) => {
      pools.push(t);
      return t;
    };
    const direct = (label: string, op: Parameters<typeof signedBedrockCall>[1], body: string, c: number) =>
      track({
        label,
        pool: keepAlivePool(emulator.url, c),
        server: emulator,
        make: signedBedrockCall(emulator.url, op, body),
      });
    // The emulator's Anthropic API endpoint: what the bare proxy calls.
    const anthropicDirect = (mode: Mode, c: number) => {
      const out = {
        path: "/v1/messages",
        headers: {
          "content-type": "application/json",
          "anthropic-version": "2023-06-01",
          "x-api-key": DEFAULT_ANTHROPIC_API_KEY,
        },
        body: anthropicBody(ANTHROPIC_MODEL, PROMPT, MAX_TOKENS, mode === "sse"),
      };
      return track({
        label: mode === "json" ? "Anthropic API" : "Anthropic API stream",
        pool: keepAlivePool(emulator.url, c),
        server: emulator,
        make: () => out,
      });
    };
    const directs = (mode: Mode, c: number) => [
      ...(mode === "json"
        ? [
            direct("InvokeModel", "invoke", invokeBody(PROMPT, MAX_TOKENS), c),
            direct("Converse", "converse", converseBody(PROMPT, MAX_TOKENS), c),
          ]
        : [
            direct(
              "InvokeModelWithResponseStream",
              "invoke-with-response-stream",
              invokeBody(PROMPT, MAX_TOKENS),
              c,
            ),
            direct("ConverseStream", "converse-stream", converseBody(PROMPT, MAX_TOKENS), c),
          ]),
      anthropicDirect(mode, c),
    ];
    /** A server taking the same Anthropic `/v1/messages` requests, compared with the direct call it makes. */
    const peer = (
      name: string,
      child: BenchChild,
      baselines: [json: string, sse: string],
      headers: Record<string, string>,
      model: string,
    ): Peer => ({
      name,
      baseline: baselines[0],
      sseBaseline: baselines[1],
      child,
      target: (mode, c) => {
        const out = {
          path: "/v1/messages",
          headers,
          body: anthropicBody(model, PROMPT, MAX_TOKENS, mode === "sse"),
        };
        return track({ label: name, pool: keepAlivePool(child.url, c), server: child, make: () => out });
      },
    });
    const anthropicHeaders = { "content-type": "application/json", "anthropic-version": "2023-06-01" };
    const peers: Peer[] = [
      peer(
        "bedrock-claude gateway",
        ours,
        ["InvokeModel", "InvokeModelWithResponseStream"],
        anthropicHeaders,
        ANTHROPIC_MODEL,
      ),
      peer(
        "Portkey 1.15.2",
        portkey,
        ["Converse", "ConverseStream"],
        portkeyHeaders(emulator.url),
        BEDROCK_MODEL,
      ),
      // Not a peer: the floor. A bare Node proxy (no auth, parsing, signing or ledger) in front of
      // the emulator's Anthropic API; no Node gateway on this machine can use less.
      peer(
        "floor: bare Node proxy",
        floor,
        ["Anthropic API", "Anthropic API stream"],
        { "content-type": "application/json" },
        ANTHROPIC_MODEL,
      ),
    ];
    await checkSameWork(emulator, peers.slice(0, 2), directs("json", 1).slice(0, 2));

    const rows: Row[] = [];
    const results = new Map<string, Pooled>();
    for (const mode of ["json", "sse"] as const) {
      for (const c of CONCURRENCY) {
        const base = directs(mode, c);
        const set = [...base, ...peers.map((p) => p.target(mode, c))];
        const count = mode === "json" ? calls : streams;
        const got = await rounds(set, {
          rounds: roundCount,
          count: c === 1 ? count : count * 2,
          concurrency: c,
          warmup: 500,
        });
        const title = `${mode === "json" ? "JSON" : "SSE (50 deltas)"}, concurrency ${c}`;
        for (const t of base) {
          const p = got.get(t.label)!;
          rows.push({
            name: `${title}: direct ${t.label}`,
            value: `p50 ${us(p.p50)}, p99 ${us(p.p99)}, ${p.perSecond.toFixed(0)} req/s`,
            note: `emulator CPU ${us(p.cpuUsPerCall)}/req`,
          });
        }
        for (const peer of peers) {
          const p = got.get(peer.name)!;
          const baseLabel = mode === "json" ? peer.baseline : peer.sseBaseline;
          const b = got.get(baseLabel)!;
          results.set(`${mode}|${c}|${peer.name}`, { ...p, p50: p.p50 - b.p50, p99: p.p99 - b.p99 });
          rows.push({
            name: `${title}: ${peer.name}`,
            value: `added p50 +${us(p.p50 - b.p50)}, p99 +${us(p.p99 - b.p99)}; CPU ${us(p.cpuUsPerCall)}/req; ${p.perSecond.toFixed(0)} req/s`,
            note: `p50 ${us(p.p50)}, p99 ${us(p.p99)} against direct ${baseLabel} (the call it makes) p50 ${us(b.p50)}, p99 ${us(b.p99)}`,
          });
        }
      }
    }
    for (const peer of peers) {
      const s = await peer.child.stats();
      rows.push({
        name: `Peak RSS: ${peer.name}`,
        value: mb(s.maxRss),
        note: `kernel high-water mark of its process over the whole run (now ${mb(s.rss)})`,
      });
    }

    // Ratios to Portkey and the targets (issue 8): at most a quarter of its added latency, a tenth of its CPU.
    const [ourName, theirName] = [peers[0]!.name, peers[1]!.name];
    const ratio = (key: string, f: (p: Pooled) => number) =>
      f(results.get(`${key}|${ourName}`)!) / f(results.get(`${key}|${theirName}`)!);
    const lines: string[] = [];
    let latencyOk = true;
    let cpuOk = true;
    for (const mode of ["json", "sse"] as const) {
      for (const c of CONCURRENCY) {
        const key = `${mode}|${c}`;
        const p50 = ratio(key, (p) => p.p50);
        const p99 = ratio(key, (p) => p.p99);
        const cpu = ratio(key, (p) => p.cpuUsPerCall);
        if (c === 1) latencyOk &&= p50 <= 0.25 && p99 <= 0.25;
        cpuOk &&= cpu <= 0.1;
        lines.push(
          `${mode.toUpperCase()} c=${c}: added p50 ${p50.toFixed(2)}×, p99 ${p99.toFixed(2)}×, CPU ${cpu.toFixed(2)}×`,
        );
      }
    }
    rows.push(
      {
        name: "Ours ÷ Portkey",
        value: lines.join("; "),
        note: "added latency against each one's own upstream call; a negative figure means less than the direct call's percentile",
      },
      {
        name: "Target: at most a quarter of Portkey's added latency (concurrency 1)",
        value: latencyOk ? "met" : "missed",
        note: lines.filter((l) => l.includes("c=1")).join("; "),
      },
      {
        name: "Target: at most a tenth of Portkey's CPU per request",
        value: cpuOk ? "met" : "missed",
        note: lines.join("; "),
      },
      {
        name: "Setup",
        value: `${roundCount} rounds, latencies pooled`,
        note: `${calls} JSON calls / ${streams} streams per round at concurrency 1, twice that at 16; 500 warm-up calls before each; the six targets of a set back to back, order rotated each round; emulator, our gateway (dist/, ledger on, request log as shipped, open on loopback), a bare Node proxy (the floor), Portkey (build/start-server.js --headless, its listen() held to 127.0.0.1) and this load generator in separate processes, all on 127.0.0.1; CPU is the serving child's process.cpuUsage() over the calls; model ${ANTHROPIC_MODEL} (ours) / ${BEDROCK_MODEL} (Portkey), same answer text checked; load average at start ${os.loadavg()[0]!.toFixed(1)}`,
      },
    );
    return { rows, summary: lines.join("; ") };
  } finally {
    await Promise.allSettled(pools.map((t) => t.pool.close()));
    await stopAll(children);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const { rows } = await benchPeers();
  process.stdout.write(`### Gateways compared\n\n${table(rows)}\n\n`);
  prependResults("gateways compared (bedrock-claude, Portkey)", "npm run bench:peers", [
    {
      title: "Gateways compared",
      intro:
        "One emulator (no added latency), called directly, through our gateway, through Portkey 1.15.2 and through a bare Node proxy (the floor: node:http in, undici out, no logic), serving the same Anthropic `/v1/messages` requests (a 150-token answer; 50 deltas when streamed). Our gateway calls InvokeModel, Portkey calls Converse, the bare proxy the emulator's Anthropic API; each one's added latency is against a direct call of that operation. Targets (issue 8): at most a quarter of Portkey's added latency and a tenth of its CPU per request.",
      rows,
    },
  ]);
}
