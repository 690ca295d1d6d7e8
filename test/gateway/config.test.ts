/**
 * The gateway's one config file: YAML (or JSON), validated at start with errors that name the
 * field; the chain and the `gateway` section both come from it; environment variables override.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import { describe, expect, it } from "vitest";
import { startGateway } from "../../src/gateway/index.js";
import { runCli, useEmulator } from "../helpers.js";

const emulator = useEmulator();
const dir = mkdtempSync(path.join(os.tmpdir(), "bc-gateway-config-"));

function writeConfig(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe("gateway config file", () => {
  it("a YAML file sets the chain, aliases, the ledger and the gateway section", async () => {
    const file = writeConfig(
      "gateway.yaml",
      [
        "# a two-target chain: the first region is down, the second answers",
        "targets:",
        `  - { provider: bedrock, region: eu-west-1, endpoint: "${emulator.current.url}", name: primary }`,
        `  - { provider: bedrock, region: us-west-2, endpoint: "${emulator.current.url}", name: secondary }`,
        "aliases:",
        "  fast: claude-haiku-4-5",
        "ledger:",
        `  path: ${path.join(dir, "yaml-ledger.db")}`,
        "gateway:",
        "  host: 127.0.0.1",
        "  port: 0",
        `  keys: { path: ${path.join(dir, "yaml-keys.db")} }`,
        "  logging: { requests: true, prompts: false }",
      ].join("\n"),
    );
    const lines: string[] = [];
    const gateway = await startGateway({
      configFile: file,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
      discovery: false,
      logging: { sink: (line) => lines.push(line) },
      resilience: { retry: { maxAttempts: 3, baseMs: 1, capMs: 2 } },
    });
    try {
      emulator.current.setFaults({
        rules: [{ error: "ServiceUnavailableException", rate: 1, region: "eu-west-1" }],
      });
      const client = new Anthropic({ baseURL: gateway.url, apiKey: "x", maxRetries: 0 });
      const response = await client.messages
        .create({ model: "fast", max_tokens: 32, messages: [{ role: "user", content: "yaml" }] })
        .withResponse();
      expect(response.data.model).toBe("claude-haiku-4-5-20251001");
      expect(response.response.headers.get("x-bedrock-claude-target")).toBe("secondary");
      const line = lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.msg === "request")!;
      expect(line).toMatchObject({ target: "secondary", failover: true, model: "claude-haiku-4-5-20251001" });
    } finally {
      emulator.current.clearFaults();
      await gateway.close();
    }
  });

  it("an invalid file is refused at start, naming the field", async () => {
    const file = writeConfig("bad.yaml", "gateway:\n  port: eighty\n  logging: { prompts: sometimes }\n");
    await expect(startGateway({ configFile: file })).rejects.toThrow(/gateway\.port/);
    await expect(startGateway({ configFile: file })).rejects.toThrow(/gateway\.logging\.prompts/);
    const unknown = writeConfig("unknown.yaml", "gateway:\n  listen: 0.0.0.0\n");
    await expect(startGateway({ configFile: unknown })).rejects.toThrow(/Unrecognized key.*listen/);
    const broken = writeConfig("broken.yaml", "gateway: [unclosed\n");
    await expect(startGateway({ configFile: broken })).rejects.toThrow(/Cannot read bedrock-claude config/);
  });

  it("serve with a bad config exits with the reason, without starting", async () => {
    const file = writeConfig("bad-cli.yaml", "gateway:\n  port: -1\n");
    const run = await runCli(["serve", "--config", file]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("gateway.port");
    expect(run.stderr).not.toContain("listening");
  });
});
