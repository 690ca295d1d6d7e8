/** `bedrock-claude drill` as a user runs it. */
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { type ProcessRun, runCli } from "./helpers.js";

/** A fresh BEDROCK_CLAUDE_HOME: the CLI's ledger goes there, never to the user's. */
const HOME_DIR = mkdtempSync(path.join(os.tmpdir(), "bedrock-claude-cli-"));

function cli(args: string[]): Promise<ProcessRun> {
  return runCli(args, { env: { AWS_REGION: "", AWS_PROFILE: "", BEDROCK_CLAUDE_HOME: HOME_DIR } });
}

describe("bedrock-claude drill", () => {
  it("rehearses a regional outage on the emulator and exits 0 when failover works", async () => {
    const run = await cli(["drill", "--emulator", "--requests", "10", "--json"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(
      "Failover drill: bedrock us-east-1 → bedrock us-west-2 → anthropic (emulator)",
    );
    expect(run.stdout).toContain("Verdict: failover works.");
    const report = JSON.parse(run.stdout.slice(run.stdout.indexOf("{"), run.stdout.lastIndexOf("}") + 1));
    const [baseline, failing, recovery] = report.phases;
    expect(baseline.servedBy).toEqual({ "bedrock us-east-1": 5 });
    expect(failing.succeeded).toBe(10);
    expect(failing.servedBy).toEqual({ "bedrock us-west-2": 10 });
    // The breaker cuts the failing primary off after a few attempts: not one per request.
    expect(failing.attemptsByTarget["bedrock us-east-1"]).toBeLessThan(10);
    expect(recovery.servedBy).toEqual({ "bedrock us-east-1": 5 });
  });

  it("rehearses a configured chain", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "drill-"));
    const config = path.join(dir, "config.json");
    writeFileSync(
      config,
      JSON.stringify({
        targets: [
          { provider: "bedrock", region: "eu-west-1" },
          { provider: "bedrock", region: "eu-central-1" },
        ],
      }),
    );
    const run = await cli(["drill", "--emulator", "--config", config, "--requests", "5"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("bedrock eu-west-1 → bedrock eu-central-1");
    expect(run.stdout).toMatch(
      /2\. bedrock eu-west-1 failing: 5\/5 succeeded \(5 via bedrock eu-central-1\)/,
    );
  });

  it("refuses to run against real endpoints without a chain or without --yes", async () => {
    const single = await cli(["drill"]);
    expect(single.code).toBe(2);
    expect(single.stderr).toContain("at least two targets");
    const dir = mkdtempSync(path.join(os.tmpdir(), "drill-"));
    const config = path.join(dir, "config.json");
    writeFileSync(config, JSON.stringify({ targets: [{ region: "us-east-1" }, { region: "us-west-2" }] }));
    const unconfirmed = await cli(["drill", "--config", config]);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain("--yes");
  });
});
