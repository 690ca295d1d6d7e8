/**
 * A custom upstream client (`createClient({ upstream })`) hands the transport web-stream bodies
 * rather than undici's Node stream: its streams take the same path as the default client's (one
 * source stream, peeked at, observed by the ledger in place).
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createClient } from "../../src/client.js";
import type { UpstreamFetch } from "../../src/transport/upstream.js";
import { openLedger } from "../../src/usage/open-ledger.js";
import { useEmulator } from "../helpers.js";

const emulator = useEmulator();
const dir = mkdtempSync(path.join(os.tmpdir(), "bc-custom-upstream-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Node's global fetch: its answers' bodies are web streams only. */
const fetchUpstream: UpstreamFetch = (url, init) =>
  fetch(url, {
    method: init.method,
    headers: init.headers,
    body: init.body as BodyInit | undefined,
    signal: init.signal,
  });

describe("a custom upstream client", () => {
  for (const bedrockApi of ["invoke", "messages"] as const) {
    it(`streams through ${bedrockApi}, and the ledger records what the emulator billed`, async () => {
      const file = path.join(dir, `${bedrockApi}.db`);
      const client = createClient({
        provider: "bedrock",
        bedrockApi,
        region: "us-west-2",
        endpoint: emulator.current.url,
        credentials: {
          accessKeyId: emulator.current.credentials.accessKeyId,
          secretAccessKey: emulator.current.credentials.secretAccessKey,
        },
        upstream: fetchUpstream,
        ledger: { path: file },
        anthropic: { maxRetries: 0 },
      });
      const stream = client.messages.stream({
        model: "claude-haiku-4-5",
        max_tokens: 256,
        messages: [{ role: "user", content: "Custom upstream. [[tokens=40]]" }],
      });
      const message = await stream.finalMessage();
      const call = emulator.current.requests().at(-1)!;
      expect(message.content[0]?.type).toBe("text");
      expect(message.usage.output_tokens).toBe(call.outputTokens);
      const record = openLedger({ path: file })!
        .requests({})
        .find((r) => r.upstreamRequestId === call.requestId);
      expect(record).toMatchObject({
        stream: true,
        partial: false,
        inputTokens: call.inputTokens,
        outputTokens: call.outputTokens,
      });
    });
  }
});
