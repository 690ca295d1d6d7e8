/**
 * Overhead of the resilience layer per call, with no faults: the attempt loop (breaker, budget,
 * limiter lookup, attempt record, attempts header) around an upstream that answers at once, against
 * the same upstream called directly. In-process, so the figure is the layer's own CPU.
 */

import { limitersFor, type ResilienceState, runAttempts } from "../src/transport/resilient.js";
import type { Target } from "../src/transport/target.js";
import type { Row } from "./emulator.js";
import { cpuClock } from "./thread-cpu.js";

const BODY = JSON.stringify({
  id: "msg_bdrk_01",
  type: "message",
  role: "assistant",
  model: "claude-sonnet-4-6",
  content: [{ type: "text", text: "ok" }],
  stop_reason: "end_turn",
  stop_sequence: null,
  usage: { input_tokens: 5, output_tokens: 1 },
});

const target = { name: "bedrock us-east-1", provider: "bedrock", region: "us-east-1" } as Target;

async function answer(): Promise<Response> {
  return new Response(BODY, { status: 200, headers: { "content-type": "application/json" } });
}

/**
 * Wall and CPU time per call of `fn`, in µs, over `iterations` calls after 2,000 to warm up: the
 * process's CPU (every thread) and the main thread's alone (bench/thread-cpu.ts).
 */
export async function perCall(
  iterations: number,
  fn: () => Promise<unknown>,
): Promise<{ us: number; cpuUs: number; mainCpuUs: number }> {
  for (let i = 0; i < 2_000; i++) await fn();
  const cpu = cpuClock();
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await fn();
  const us = Number(process.hrtime.bigint() - started) / 1_000 / iterations;
  const used = cpu();
  return { us, cpuUs: used.cpuUs / iterations, mainCpuUs: used.mainCpuUs / iterations };
}

export async function benchResilience(): Promise<Row[]> {
  const state: ResilienceState = {
    policy: {},
    health: new Map(),
    limiters: limitersFor({}),
    now: Date.now,
    random: Math.random,
    sleep: async () => undefined,
  };
  const limited: ResilienceState = {
    ...state,
    health: new Map(),
    policy: { limits: { "*": { rpm: 1e9, tpm: 1e12 } } },
  };
  limited.limiters = limitersFor(limited.policy);
  const plan = (s: ResilienceState) => () =>
    runAttempts(s, {
      targets: [target],
      model: "claude-sonnet-4-6",
      tokens: 300,
      stream: false,
      signal: undefined,
      send: answer,
    }).then((r) => r.arrayBuffer());
  const iterations = 50_000;
  const direct = await perCall(iterations, () => answer().then((r) => r.arrayBuffer()));
  const layered = await perCall(iterations, plan(state));
  const withLimits = await perCall(iterations, plan(limited));
  return [
    {
      name: "upstream answer read directly (baseline)",
      value: `${direct.us.toFixed(2)} µs/call`,
      note: `${direct.cpuUs.toFixed(2)} µs CPU`,
    },
    {
      name: "through the resilience layer (breaker, budget, attempt record, header)",
      value: `${layered.us.toFixed(2)} µs/call`,
      note: `overhead ${(layered.us - direct.us).toFixed(2)} µs/call, ${(layered.cpuUs - direct.cpuUs).toFixed(2)} µs CPU`,
    },
    {
      name: "… with rpm and tpm limiters",
      value: `${withLimits.us.toFixed(2)} µs/call`,
      note: `overhead ${(withLimits.us - direct.us).toFixed(2)} µs/call, ${(withLimits.cpuUs - direct.cpuUs).toFixed(2)} µs CPU`,
    },
  ];
}
