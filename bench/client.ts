import { AnthropicBedrock } from "@anthropic-ai/bedrock-sdk";
import {
  BedrockRuntimeClient,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
} from "@aws-sdk/client-bedrock-runtime";
import { createClient } from "../src/client.js";
import type { Row } from "./emulator.js";
import { spawnEmulator, stopEmulator } from "./emulator-process.js";

/** What every client asks: the emulator pads the answer to 150 output tokens (50 stream deltas). */
const PROMPT = "Explain why serverless architectures require careful timeout tuning. [[tokens=150]]";
const MAX_TOKENS = 256;
/** Bedrock's id; ours is given the Anthropic name and must resolve to this (checked below). */
const BEDROCK_MODEL = "us.anthropic.claude-sonnet-4-6";
const OUR_MODEL = "claude-sonnet-4-6";
const REGION = "us-east-1";
const CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };
/** Ratios within 3% of 1 count as a tie. */
const TIE = 0.03;

export interface ClientBenchOptions {
  /** Measured rounds per configuration; the median is reported. Default 5. */
  rounds?: number;
  /** Non-streaming calls per round. Default 1000. */
  calls?: number;
  /** Streaming calls per round. Default 500. */
  streamCalls?: number;
  /** Calls in flight in the concurrent variant. Default 16. */
  concurrency?: number;
  /** Warm-up calls before each measurement. Default 50. */
  warmup?: number;
}

type Call = () => Promise<void>;

interface Scenario {
  client: string;
  mode: "create" | "stream";
  call: Call;
}

interface Measure {
  perSecond: number;
  cpuUsPerCall: number;
}

async function measure(call: Call, count: number, concurrency: number, warmup: number): Promise<Measure> {
  for (let i = 0; i < warmup; i++) await call();
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      await call();
    }
  };
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { perSecond: count / seconds, cpuUsPerCall: (used.user + used.system) / count };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function scenarios(endpoint: string): { list: Scenario[]; close: () => void } {
  const ours = createClient({ provider: "bedrock", region: REGION, endpoint, credentials: CREDENTIALS });
  const bedrockSdk = new AnthropicBedrock({
    baseURL: endpoint,
    awsRegion: REGION,
    awsAccessKey: CREDENTIALS.accessKeyId,
    awsSecretKey: CREDENTIALS.secretAccessKey,
    // Not AWS_BEARER_TOKEN_BEDROCK from the environment: SigV4, like the others.
    apiKey: null,
  });
  const aws = new BedrockRuntimeClient({ region: REGION, endpoint, credentials: CREDENTIALS });
  const messages = [{ role: "user" as const, content: PROMPT }];
  const invokeBody = JSON.stringify({
    anthropic_version: "bedrock-2023-05-31",
    max_tokens: MAX_TOKENS,
    messages,
  });
  const decoder = new TextDecoder();
  const list: Scenario[] = [
    {
      client: "createClient (ours)",
      mode: "create",
      call: async () => {
        await ours.messages.create({ model: OUR_MODEL, max_tokens: MAX_TOKENS, messages });
      },
    },
    {
      client: "createClient (ours)",
      mode: "stream",
      call: async () => {
        await ours.messages.stream({ model: OUR_MODEL, max_tokens: MAX_TOKENS, messages }).finalMessage();
      },
    },
    {
      client: "AnthropicBedrock",
      mode: "create",
      call: async () => {
        await bedrockSdk.messages.create({ model: BEDROCK_MODEL, max_tokens: MAX_TOKENS, messages });
      },
    },
    {
      client: "AnthropicBedrock",
      mode: "stream",
      call: async () => {
        await bedrockSdk.messages
          .stream({ model: BEDROCK_MODEL, max_tokens: MAX_TOKENS, messages })
          .finalMessage();
      },
    },
    {
      client: "AWS SDK InvokeModel (raw)",
      mode: "create",
      call: async () => {
        const r = await aws.send(new InvokeModelCommand({ modelId: BEDROCK_MODEL, body: invokeBody }));
        JSON.parse(decoder.decode(r.body));
      },
    },
    {
      client: "AWS SDK InvokeModel (raw)",
      mode: "stream",
      call: async () => {
        const r = await aws.send(
          new InvokeModelWithResponseStreamCommand({ modelId: BEDROCK_MODEL, body: invokeBody }),
        );
        for await (const event of r.body!) {
          if (event.chunk?.bytes) JSON.parse(decoder.decode(event.chunk.bytes));
        }
      },
    },
  ];
  return { list, close: () => aws.destroy() };
}

/** All three clients must get the same answer for the same model, or the comparison is void. */
async function checkSameWork(endpoint: string): Promise<void> {
  const ours = createClient({ provider: "bedrock", region: REGION, endpoint, credentials: CREDENTIALS });
  const { data, response } = await ours.messages
    .create({ model: OUR_MODEL, max_tokens: MAX_TOKENS, messages: [{ role: "user", content: PROMPT }] })
    .withResponse();
  const resolved = response.headers.get("x-bedrock-claude-model");
  if (resolved !== BEDROCK_MODEL)
    throw new Error(`${OUR_MODEL} resolved to ${resolved}, not ${BEDROCK_MODEL}`);
  const theirs = await new AnthropicBedrock({
    baseURL: endpoint,
    awsRegion: REGION,
    awsAccessKey: CREDENTIALS.accessKeyId,
    awsSecretKey: CREDENTIALS.secretAccessKey,
    apiKey: null,
  }).messages.create({
    model: BEDROCK_MODEL,
    max_tokens: MAX_TOKENS,
    messages: [{ role: "user", content: PROMPT }],
  });
  const text = (m: typeof data) => m.content.map((b) => (b.type === "text" ? b.text : "")).join("");
  if (text(data) !== text(theirs) || data.usage.output_tokens !== theirs.usage.output_tokens) {
    throw new Error(
      "createClient and AnthropicBedrock got different answers; the comparison would be unfair",
    );
  }
}

function rotate<T>(list: T[], by: number): T[] {
  const shift = by % list.length;
  return [...list.slice(shift), ...list.slice(0, shift)];
}

function ratioRange(values: number[]): string {
  return `${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}×`;
}

const OURS = "createClient (ours)";
const BASELINE = "AnthropicBedrock";

export async function benchClient(options: ClientBenchOptions = {}): Promise<Row[]> {
  const rounds = options.rounds ?? 5;
  const calls = options.calls ?? 1000;
  const streamCalls = options.streamCalls ?? 500;
  const concurrency = options.concurrency ?? 16;
  const warmup = options.warmup ?? 50;
  const emulator = await spawnEmulator();
  try {
    await checkSameWork(emulator.url);
    const { list, close } = scenarios(emulator.url);
    const clients = [...new Set(list.map((s) => s.client))];
    const groups = (["create", "stream"] as const).flatMap((mode) =>
      [1, concurrency].map((c) => ({
        mode,
        concurrency: c,
        label: `${mode === "create" ? "messages.create" : "messages.stream, drained"}, ${
          c === 1 ? "sequential" : `concurrency ${c}`
        }`,
      })),
    );
    // results[label][client][round]
    const results = new Map<string, Map<string, Measure[]>>();
    for (let round = 0; round < rounds; round++) {
      // The clients of one configuration run back to back, so that they share the machine's
      // conditions (other load, thermal state); their order and the configurations' rotate each round.
      for (const group of rotate(groups, round)) {
        const order = rotate(clients, round);
        for (const client of round % 2 === 1 ? order.reverse() : order) {
          const scenario = list.find((s) => s.client === client && s.mode === group.mode)!;
          const count = group.mode === "stream" ? streamCalls : calls;
          const m = await measure(scenario.call, count, group.concurrency, warmup);
          const byClient = results.get(group.label) ?? new Map<string, Measure[]>();
          byClient.set(client, [...(byClient.get(client) ?? []), m]);
          results.set(group.label, byClient);
        }
      }
    }
    close();

    const rows: Row[] = [];
    const verdict: { label: string; outcome: string; text: string }[] = [];
    for (const { label } of groups) {
      const byClient = results.get(label)!;
      const baseline = byClient.get(BASELINE)!;
      for (const client of clients) {
        const all = byClient.get(client)!;
        const perSecond = median(all.map((m) => m.perSecond));
        const cpuUsPerCall = median(all.map((m) => m.cpuUsPerCall));
        let note = "baseline";
        if (client !== BASELINE) {
          // Paired per round: each client against AnthropicBedrock measured next to it.
          const speed = all.map((m, i) => m.perSecond / baseline[i]!.perSecond);
          const cpu = all.map((m, i) => m.cpuUsPerCall / baseline[i]!.cpuUsPerCall);
          note = `vs AnthropicBedrock: ${median(speed).toFixed(2)}× the calls/s (rounds ${ratioRange(speed)}), ${median(cpu).toFixed(2)}× the CPU (rounds ${ratioRange(cpu)})`;
          if (client === OURS) {
            const s = median(speed);
            const c = median(cpu);
            const wins = all.filter(
              (m, i) => m.perSecond >= baseline[i]!.perSecond && m.cpuUsPerCall <= baseline[i]!.cpuUsPerCall,
            ).length;
            // Medians within TIE of 1 count as a tie: run-to-run noise on a shared machine is that large.
            const outcome =
              s >= 1 && c <= 1 ? "met" : s >= 1 - TIE && c <= 1 + TIE ? "tie (within noise)" : "NOT met";
            verdict.push({
              label,
              outcome,
              text: `${label}: ${outcome} (${s.toFixed(2)}× calls/s, ${c.toFixed(2)}× CPU; ahead on both in ${wins}/${rounds} rounds)`,
            });
          }
        }
        rows.push({
          name: `${label}: ${client}`,
          value: `${perSecond.toFixed(0)} calls/s, ${cpuUsPerCall.toFixed(0)} µs CPU/call`,
          note,
        });
      }
    }
    const overall = verdict.some((v) => v.outcome === "NOT met")
      ? "not met"
      : verdict.every((v) => v.outcome === "met")
        ? "met"
        : "met (some ties within noise)";
    rows.push({
      name: "Target: createClient at least as fast as AnthropicBedrock (median per-round ratios, calls/s and CPU/call)",
      value: overall,
      note: verdict.map((v) => v.text).join("; "),
    });
    rows.push({
      name: "Setup",
      value: `${rounds} rounds, median`,
      note: `${calls} non-streaming / ${streamCalls} streaming calls per measurement, ${warmup} warm-up calls before each; the three clients of a configuration back to back, order rotated each round; emulator in a child process (its CPU not counted); ${MAX_TOKENS} max_tokens, 150-token answer (50 stream deltas)`,
    });
    return rows;
  } finally {
    await stopEmulator(emulator);
  }
}
