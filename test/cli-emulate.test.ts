/** `bedrock-claude emulate` as a user runs it: starts, prints its URL and credentials, serves, stops on signals. */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { BedrockRuntimeClient, InvokeModelCommand } from "@aws-sdk/client-bedrock-runtime";
import { afterEach, describe, expect, it } from "vitest";
import { invokeBody, SONNET_46_PROFILE, TEST_CREDENTIALS } from "./helpers.js";

const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const children: ChildProcess[] = [];

function run(args: string[]): { child: ChildProcess; output: () => string; url: Promise<string> } {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  const url = new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("exit", (code) => reject(new Error(`exited ${code}: ${output}`)));
  });
  // A run that is expected to fail never reads its URL.
  url.catch(() => undefined);
  return { child, output: () => output, url };
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.on("exit", (code) => resolve(code)));
}

afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
});

describe("bedrock-claude emulate", () => {
  it.each(["SIGINT", "SIGTERM"] as const)(
    "serves the AWS SDK, logs requests, and exits 0 on %s",
    async (signal) => {
      const { child, output, url } = run(["emulate", "--port", "0", "--seed", "1", "--log"]);
      const base = await url;
      expect(output()).toContain("AWS_ACCESS_KEY_ID=test");
      expect(output()).toContain("AWS_BEARER_TOKEN_BEDROCK=ABSK");
      const client = new BedrockRuntimeClient({
        region: "us-west-2",
        endpoint: base,
        credentials: TEST_CREDENTIALS,
      });
      const answer = await client.send(
        new InvokeModelCommand({
          modelId: SONNET_46_PROFILE,
          body: JSON.stringify(invokeBody({ messages: [{ role: "user", content: "secret prompt" }] })),
        }),
      );
      expect(JSON.parse(new TextDecoder().decode(answer.body)).content[0].text).toContain("secret prompt");
      await new Promise((r) => setTimeout(r, 50));
      expect(output()).toMatch(/InvokeModel us-west-2 us\.anthropic\.claude-sonnet-4-6 200 completed/);
      // The log line never carries the prompt.
      expect(output()).not.toContain("secret prompt");
      const code = exited(child);
      child.kill(signal);
      expect(await code).toBe(0);
    },
  );

  it("applies --faults from the command line", async () => {
    const { url } = run(["emulate", "--port", "0", "--faults", "ServiceUnavailableException:1@eu-west-1"]);
    const base = await url;
    const call = (region: string) =>
      new BedrockRuntimeClient({ region, endpoint: base, credentials: TEST_CREDENTIALS, maxAttempts: 1 })
        .send(
          new InvokeModelCommand({
            modelId: `${region.slice(0, 2)}.anthropic.claude-sonnet-4-6`,
            body: JSON.stringify(invokeBody()),
          }),
        )
        .then(
          () => "ok",
          (e: Error) => e.name,
        );
    expect(await call("eu-west-1")).toBe("ServiceUnavailableException");
    expect(await call("us-east-1")).toBe("ok");
  });

  it("refuses a bad option with a clear message and exit code 2", async () => {
    const { child, output } = run(["emulate", "--port", "abc"]);
    expect(await exited(child)).toBe(2);
    expect(output()).toContain("--port must be a whole number");
  });
});
