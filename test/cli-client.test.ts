/** `bedrock-claude ask`, `chat` and `models`, run as a user runs them, against `--emulator`. */
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { type ProcessRun, runCli } from "./helpers.js";

/** A fresh BEDROCK_CLAUDE_HOME: the CLI's ledger goes there, never to the user's. */
const HOME_DIR = mkdtempSync(path.join(os.tmpdir(), "bedrock-claude-cli-"));

function cli(args: string[], stdin = "", env: Record<string, string> = {}): Promise<ProcessRun> {
  const isolated = {
    AWS_REGION: "",
    AWS_PROFILE: "",
    AWS_BEARER_TOKEN_BEDROCK: "",
    BEDROCK_CLAUDE_HOME: HOME_DIR,
  };
  return runCli(args, { stdin, env: { ...isolated, ...env } });
}

const PROMPT = "Explain why serverless architectures require careful timeout tuning.";

describe("bedrock-claude ask", () => {
  it("answers the README's main command offline, with a summary on stderr", async () => {
    const run = await cli(["ask", "--emulator", PROMPT]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`You said: "${PROMPT}"`);
    expect(run.stderr).toMatch(
      /\[claude-sonnet-4-6 · bedrock us-east-1 \(us\.anthropic\.claude-sonnet-4-6\) · in \d+ · out \d+ · end_turn\]/,
    );
  });

  it("reads the prompt from stdin and warns when max_tokens cut the answer", async () => {
    const run = await cli(["ask", "--emulator", "--max-tokens", "4"], "a prompt from a pipe\n");
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split(/\s+/).length).toBeLessThanOrEqual(4);
    expect(run.stderr).toContain("warning: the answer was cut at 4 tokens");
  });

  it("prints the whole Message with --json, on every provider", async () => {
    for (const provider of ["bedrock", "bedrock-mantle", "anthropic"]) {
      const run = await cli([
        "ask",
        "--emulator",
        "--provider",
        provider,
        "--region",
        "eu-west-1",
        "--json",
        "hi",
      ]);
      expect(run.code, run.stderr).toBe(0);
      const message = JSON.parse(run.stdout);
      expect(message).toMatchObject({
        type: "message",
        role: "assistant",
        model: "claude-sonnet-4-6",
        stop_reason: "end_turn",
      });
    }
  });

  it("honours --system and --model", async () => {
    const run = await cli([
      "ask",
      "--emulator",
      "--model",
      "claude-opus-4-7",
      "--system",
      "Be terse.",
      "--no-stream",
      "hi",
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("answering as claude-opus-4-7");
    expect(run.stdout).toContain('System prompt: "Be terse."');
  });

  it("exits 4 for an unknown model, naming the models that exist", async () => {
    const run = await cli(["ask", "--emulator", "--model", "claude-nope", "hi"]);
    expect(run.code).toBe(4);
    expect(run.stderr).toContain('Unknown model "claude-nope"');
    expect(run.stderr).toContain("claude-sonnet-4-6");
  });

  it("exits 2 for usage mistakes", async () => {
    expect((await cli(["ask", "--emulator", "--provider", "azure", "hi"])).code).toBe(2);
    expect((await cli(["ask", "--emulator", "--max-tokens", "0", "hi"])).code).toBe(2);
    const empty = await cli(["ask", "--emulator"], "");
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain("Give a prompt");
  });

  it("exits 3 with advice when no AWS credentials can be found", async () => {
    const run = await cli(["ask", "--endpoint", "http://127.0.0.1:9", "hi"], "", {
      AWS_ACCESS_KEY_ID: "",
      AWS_SECRET_ACCESS_KEY: "",
      AWS_CONFIG_FILE: "/nonexistent/config",
      AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/credentials",
      AWS_EC2_METADATA_DISABLED: "true",
    });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain("Could not load AWS credentials");
    expect(run.stderr).toContain("aws sso login");
  });

  it("exits 5 when the service cannot be reached", async () => {
    // Nothing listens on port 9.
    const run = await cli(["ask", "--endpoint", "http://127.0.0.1:9", "hi"], "", {
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
    });
    expect(run.code, run.stderr).toBe(5);
    expect(run.stderr).toContain("Could not reach the service");
  });
});

describe("bedrock-claude chat", () => {
  it("keeps the history across turns and leaves on /exit", async () => {
    const run = await cli(["chat", "--emulator"], "first question\nsecond question\n/exit\n");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('You said: "first question"');
    expect(run.stdout).toContain('You said: "second question"');
    const inputs = [...run.stderr.matchAll(/· in (\d+) ·/g)].map((m) => Number(m[1]));
    expect(inputs).toHaveLength(2);
    // The second turn carries the first question and answer: more input tokens.
    expect(inputs[1]!).toBeGreaterThan(inputs[0]! + 10);
  });

  it("ends cleanly at the end of input (Ctrl-D)", async () => {
    const run = await cli(["chat", "--emulator"], "only one\n");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('You said: "only one"');
  });
});

describe("bedrock-claude models", () => {
  it("shows what each name resolves to in a region, as JSON", async () => {
    const run = await cli(["models", "--region", "eu-west-2", "--json"]);
    expect(run.code).toBe(0);
    const { region, models } = JSON.parse(run.stdout);
    expect(region).toBe("eu-west-2");
    const sonnet = models.find((m: { name: string }) => m.name === "claude-sonnet-4-6");
    expect(sonnet.resolvesTo).toBe("eu.anthropic.claude-sonnet-4-6");
    expect(sonnet.alsoAvailable).toContain("anthropic.claude-sonnet-4-6");
    expect(models.some((m: { status: string }) => m.status === "end of life")).toBe(false);
  });

  it("prints a table", async () => {
    const run = await cli(["models", "--region", "us-east-1"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/claude-sonnet-4-6\s+us\.anthropic\.claude-sonnet-4-6\s+active/);
  });
});
