/**
 * Fault injection, quotas and the admin API, over real HTTP with the official AWS SDK.
 */
import {
  BedrockRuntimeClient,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  type ResponseStream,
} from "@aws-sdk/client-bedrock-runtime";
import { afterEach, describe, expect, it } from "vitest";
import { parseFaultSpec, startEmulator } from "../src/emulator/index.js";
import {
  awsClientConfig,
  invokeBody,
  OPUS_47_PROFILE,
  SONNET_46_PROFILE,
  signedFetch,
  useEmulator,
} from "./helpers.js";

const emulator = useEmulator();

function client(region = "us-east-1", url = emulator.current.url): BedrockRuntimeClient {
  return new BedrockRuntimeClient(awsClientConfig(url, { region }));
}

const body = (prompt = "Hello", extra: Record<string, unknown> = {}) =>
  JSON.stringify(invokeBody({ messages: [{ role: "user", content: prompt }], ...extra }));

async function invoke(c: BedrockRuntimeClient, modelId = SONNET_46_PROFILE): Promise<string> {
  try {
    await c.send(new InvokeModelCommand({ modelId, body: body() }));
    return "ok";
  } catch (error) {
    return (error as Error).name;
  }
}

async function collect(stream: AsyncIterable<ResponseStream>): Promise<{ events: string[]; error?: Error }> {
  const events: string[] = [];
  try {
    for await (const part of stream) {
      if (part.chunk?.bytes) events.push(JSON.parse(new TextDecoder().decode(part.chunk.bytes)).type);
    }
  } catch (error) {
    return { events, error: error as Error };
  }
  return { events };
}

afterEach(() => {
  emulator.current.clearFaults();
  emulator.current.resetJournal();
});

describe("fault kinds", () => {
  it.each([
    ["ThrottlingException", 429],
    ["ServiceUnavailableException", 503],
    ["ModelNotReadyException", 429],
    ["ModelTimeoutException", 408],
    ["InternalServerException", 500],
  ])("%s answers with its status and the SDK's typed exception", async (name, status) => {
    emulator.current.setFaults({ rules: [{ error: name as "ThrottlingException", rate: 1 }] });
    const error = await client()
      .send(new InvokeModelCommand({ modelId: SONNET_46_PROFILE, body: body() }))
      .then(
        () => undefined,
        (e: unknown) => e as Error & { $metadata: { httpStatusCode: number } },
      );
    expect(error?.name).toBe(name);
    expect(error?.$metadata.httpStatusCode).toBe(status);
    const [record] = emulator.current.requests();
    expect(record).toMatchObject({ errorName: name, status, inputTokens: 0, outputTokens: 0 });
  });

  it("scopes a rule to a region", async () => {
    emulator.current.setFaults({
      rules: [{ error: "ServiceUnavailableException", rate: 1, region: "us-east-1" }],
    });
    expect(await invoke(client("us-east-1"))).toBe("ServiceUnavailableException");
    expect(await invoke(client("us-west-2"))).toBe("ok");
  });

  it("scopes a rule to a model by any of its names", async () => {
    emulator.current.setFaults({
      rules: [{ error: "ThrottlingException", rate: 1, model: "claude-opus-4-7" }],
    });
    expect(await invoke(client(), OPUS_47_PROFILE)).toBe("ThrottlingException");
    expect(await invoke(client(), SONNET_46_PROFILE)).toBe("ok");
    emulator.current.setFaults({
      rules: [{ error: "ThrottlingException", rate: 1, model: "us.anthropic.claude-sonnet-*" }],
    });
    expect(await invoke(client(), SONNET_46_PROFILE)).toBe("ThrottlingException");
  });

  it("adds latency with a latency-only rule", async () => {
    emulator.current.setFaults({ rules: [{ error: "none", rate: 1, latencyMs: 300 }] });
    const started = performance.now();
    expect(await invoke(client())).toBe("ok");
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });

  it("resets the connection before any answer", async () => {
    emulator.current.setFaults({ rules: [{ error: "ConnectionReset", rate: 1 }] });
    const result = await invoke(client());
    expect(result).not.toBe("ok");
    expect(emulator.current.requests()[0]).toMatchObject({ outcome: "connection_reset" });
    emulator.current.clearFaults();
    expect(await invoke(client())).toBe("ok");
  });
});

describe("faults inside streams", () => {
  it("sends exactly N events, then the modelled exception frame", async () => {
    emulator.current.setFaults({ rules: [{ error: "ModelStreamErrorException", rate: 1, afterEvents: 5 }] });
    const response = await client().send(
      new InvokeModelWithResponseStreamCommand({
        modelId: SONNET_46_PROFILE,
        body: body("a long enough prompt [[tokens=60]]"),
      }),
    );
    const { events, error } = await collect(response.body!);
    expect(events).toHaveLength(5);
    expect(events[0]).toBe("message_start");
    expect(error?.name).toBe("ModelStreamErrorException");
    const [record] = emulator.current.requests();
    // Billed: the input (message_start reached the client), no output (message_delta never did).
    expect(record?.outcome).toBe("error");
    expect(record?.inputTokens).toBeGreaterThan(0);
    expect(record?.outputTokens).toBe(0);
  });

  it("throttles mid-stream with a throttlingException frame", async () => {
    emulator.current.setFaults({ rules: [{ error: "ThrottlingException", rate: 1, afterEvents: 2 }] });
    const response = await client().send(
      new InvokeModelWithResponseStreamCommand({ modelId: SONNET_46_PROFILE, body: body() }),
    );
    const { events, error } = await collect(response.body!);
    expect(events).toEqual(["message_start", "content_block_start"]);
    expect(error?.name).toBe("ThrottlingException");
  });

  it("never applies a stream-only error to a JSON invoke", async () => {
    emulator.current.setFaults({ rules: [{ error: "ModelStreamErrorException", rate: 1 }] });
    expect(await invoke(client())).toBe("ok");
  });

  it("sends an SSE error event on the Anthropic-native endpoint", async () => {
    emulator.current.setFaults({ rules: [{ error: "InternalServerException", rate: 1, afterEvents: 3 }] });
    const response = await fetch(`${emulator.current.url}/anthropic/v1/messages`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${emulator.current.credentials.apiKey}`,
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
      },
      body: JSON.stringify({
        model: "anthropic.claude-opus-4-7",
        max_tokens: 50,
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      }),
    });
    const text = await response.text();
    const names = [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(names).toEqual(["message_start", "content_block_start", "ping", "content_block_delta", "error"]);
    expect(text).toContain('"type":"api_error"');
  });

  it("resets the connection part-way through a stream", async () => {
    emulator.current.setFaults({ rules: [{ error: "ConnectionReset", rate: 1, afterEvents: 3 }] });
    const response = await client().send(
      new InvokeModelWithResponseStreamCommand({ modelId: SONNET_46_PROFILE, body: body() }),
    );
    const { events, error } = await collect(response.body!);
    expect(events.length).toBeLessThanOrEqual(3);
    expect(error).toBeDefined();
    expect(emulator.current.requests()[0]).toMatchObject({ outcome: "connection_reset" });
  });
});

describe("seeded runs", () => {
  async function pattern(seed: number): Promise<string[]> {
    emulator.current.setFaults({ seed, rules: [{ error: "ThrottlingException", rate: 0.5 }] });
    const c = client();
    const out: string[] = [];
    for (let i = 0; i < 30; i++) out.push(await invoke(c));
    return out;
  }

  it("repeat the same failures for the same seed, and differ for another", async () => {
    const first = await pattern(42);
    const second = await pattern(42);
    const other = await pattern(7);
    expect(second).toEqual(first);
    expect(first).toContain("ThrottlingException");
    expect(first).toContain("ok");
    expect(other).not.toEqual(first);
  });

  it("give the same ids and answers in two emulators started with the same seed", async () => {
    const run = async () => {
      const emu = await startEmulator({
        port: 0,
        seed: 99,
        faults: { rules: [{ error: "ThrottlingException", rate: 0.3 }] },
      });
      try {
        const c = client("us-east-1", emu.url);
        const out: string[] = [];
        for (let i = 0; i < 10; i++) {
          try {
            const r = await c.send(
              new InvokeModelCommand({ modelId: SONNET_46_PROFILE, body: body(`q${i}`) }),
            );
            out.push(JSON.parse(new TextDecoder().decode(r.body)).id);
          } catch (error) {
            out.push((error as Error).name);
          }
        }
        return out;
      } finally {
        await emu.close();
      }
    };
    expect(await run()).toEqual(await run());
  });
});

describe("quotas", () => {
  const limited = useEmulator({
    config: {
      quotas: [
        { region: "us-east-1", model: "claude-sonnet-4-6", rpm: 3 },
        { model: "claude-opus-4-7", tpm: 150 },
      ],
    },
  });

  it("refuse the request past requests-per-minute with Bedrock's words", async () => {
    const c = client("us-east-1", limited.current.url);
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await invoke(c));
    expect(results).toEqual(["ok", "ok", "ok", "ThrottlingException"]);
    expect(await invoke(client("us-west-2", limited.current.url))).toBe("ok");
    const response = await signedFetch(limited.current.url, {
      path: `/model/${SONNET_46_PROFILE}/invoke`,
      body: body(),
    });
    expect(response.status).toBe(429);
    expect(await response.json()).toEqual({ message: "Too many requests, please wait before trying again." });
  });

  it("count input plus max_tokens against tokens-per-minute", async () => {
    const c = client("us-east-1", limited.current.url);
    // Each call reserves about 5 input + 64 max_tokens: the third passes 150.
    expect(await invoke(c, OPUS_47_PROFILE)).toBe("ok");
    expect(await invoke(c, OPUS_47_PROFILE)).toBe("ok");
    const response = await signedFetch(limited.current.url, {
      path: `/model/${OPUS_47_PROFILE}/invoke`,
      body: body(),
    });
    expect(response.status).toBe(429);
    expect(await response.json()).toEqual({ message: "Too many tokens, please wait before trying again." });
  });
});

describe("admin API", () => {
  it("sets, shows and clears faults", async () => {
    const url = `${emulator.current.url}/_emulator/faults`;
    const set = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        seed: 5,
        rules: [{ error: "ThrottlingException", rate: 0.25, region: "eu-west-1" }],
      }),
    });
    expect(set.status).toBe(200);
    expect(await (await fetch(url)).json()).toEqual({
      seed: 5,
      rules: [{ error: "ThrottlingException", rate: 0.25, region: "eu-west-1" }],
    });
    await fetch(url, { method: "DELETE" });
    expect((await (await fetch(url)).json()).rules).toEqual([]);
  });

  it("refuses a bad fault spec with a message naming the field", async () => {
    const response = await fetch(`${emulator.current.url}/_emulator/faults`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ rules: [{ error: "NoSuchException", rate: 2 }] }),
    });
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toMatch(/rules\.0\.error/);
  });

  it("logs requests and totals billed usage by region and model", async () => {
    await invoke(client("us-east-1"));
    await invoke(client("eu-west-1"), "eu.anthropic.claude-sonnet-4-6");
    const { requests } = await (await fetch(`${emulator.current.url}/_emulator/requests`)).json();
    expect(requests.map((r: { operation: string; region: string }) => [r.operation, r.region])).toEqual([
      ["InvokeModel", "us-east-1"],
      ["InvokeModel", "eu-west-1"],
    ]);
    const usage = await (await fetch(`${emulator.current.url}/_emulator/usage`)).json();
    expect(
      usage.byModel.map((u: { region: string; model: string }) => `${u.region} ${u.model}`).sort(),
    ).toEqual(["eu-west-1 eu.anthropic.claude-sonnet-4-6", "us-east-1 us.anthropic.claude-sonnet-4-6"]);
    const sum = requests.reduce((n: number, r: { outputTokens: number }) => n + r.outputTokens, 0);
    expect(usage.totals.outputTokens).toBe(sum);
  });
});

describe("--faults short form", () => {
  it("parses error:rate@region/model lists", () => {
    expect(
      parseFaultSpec("ThrottlingException:0.3,ServiceUnavailableException@us-east-1/claude-opus-*"),
    ).toEqual({
      rules: [
        { error: "ThrottlingException", rate: 0.3 },
        { error: "ServiceUnavailableException", rate: 1, region: "us-east-1", model: "claude-opus-*" },
      ],
    });
    expect(() => parseFaultSpec("Bogus:0.5")).toThrow(/Invalid --faults/);
    expect(parseFaultSpec('{"seed":3,"rules":[{"error":"none","latencyMs":50}]}')).toEqual({
      seed: 3,
      rules: [{ error: "none", rate: 1, latencyMs: 50 }],
    });
  });
});
