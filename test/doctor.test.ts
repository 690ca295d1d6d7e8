/**
 * `runDoctor()` and `bedrock-claude doctor`, scenario by scenario: each broken link is set up for
 * real (an emulator identity with the fault, real `~/.aws` files in a fresh HOME, AWS_* variables,
 * an emulator whose clock is off, a port nothing listens on), and each test asserts which check
 * fails first, the plain-words diagnosis and the fix (the command to run, or the policy to paste).
 */

import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { CheckResult, DoctorReport } from "../src/doctor/report.js";
import { type DoctorOptions, runDoctor } from "../src/doctor/run.js";
import { startEmulator } from "../src/emulator/index.js";
import { shippedCatalog } from "../src/models/catalog.js";
import { resolveModel } from "../src/models/resolve.js";
import { ISOLATED_VARIABLES, KEPT_AWS_VARIABLES, runProcess, useAwsSandbox, useEmulator } from "./helpers.js";

const MINUTE = 60_000;
const T0 = Date.now();
const ORDER = ["config", "credentials", "identity", "reachability", "clock", "model", "access", "permission"];

interface Keys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** A user allowed everything. */
const USER: Keys = { accessKeyId: "AKIADOCTORUSER000001", secretAccessKey: "doctor-user-secret" };
const USER_ACCOUNT = "111122223333";
const USER_ARN = `arn:aws:iam::${USER_ACCOUNT}:user/doctor-user`;
/** Temporary credentials whose session ended an hour before the suite started. */
const EXPIRED_SESSION: Required<Keys> = {
  accessKeyId: "ASIAEXPIREDSESSION01",
  secretAccessKey: "expired-session-secret",
  sessionToken: "expired-session-token",
};
/** May read the control plane, but no policy allows bedrock:InvokeModel*. */
const READ_ONLY: Keys = { accessKeyId: "AKIAREADONLYUSER0001", secretAccessKey: "read-only-secret" };
const READ_ONLY_ACCOUNT = "444455556666";
/** Allowed everything, but the account has not been granted access to any model. */
const NO_ACCESS: Keys = { accessKeyId: "AKIANOMODELACCESS001", secretAccessKey: "no-access-secret" };

const emulator = useEmulator({
  config: {
    identities: [
      { name: "doctor-user", ...USER, account: USER_ACCOUNT },
      {
        name: "expired-session",
        ...EXPIRED_SESSION,
        expiresAt: new Date(T0 - 60 * MINUTE).toISOString(),
      },
      {
        name: "read-only",
        ...READ_ONLY,
        account: READ_ONLY_ACCOUNT,
        allowedActions: ["bedrock:Get*", "bedrock:List*"],
      },
      { name: "no-access", ...NO_ACCESS, modelAccess: [] },
    ],
  },
});

const sandbox = useAwsSandbox("bedrock-claude-doctor-");

function writeAwsFiles(files: { config?: string; credentials?: string }): Promise<void> {
  return sandbox.writeAwsFiles(files);
}

function credentialsSection(name: string, keys: Partial<Keys>): string {
  return [
    `[${name}]`,
    ...(keys.accessKeyId ? [`aws_access_key_id = ${keys.accessKeyId}`] : []),
    ...(keys.secretAccessKey ? [`aws_secret_access_key = ${keys.secretAccessKey}`] : []),
    ...(keys.sessionToken ? [`aws_session_token = ${keys.sessionToken}`] : []),
    "",
  ].join("\n");
}

function setEnvKeys(keys: Keys): void {
  process.env.AWS_ACCESS_KEY_ID = keys.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = keys.secretAccessKey;
  if (keys.sessionToken) process.env.AWS_SESSION_TOKEN = keys.sessionToken;
}

function doctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  return runDoctor({ endpoint: emulator.current.url, region: "us-east-1", ledger: false, ...options });
}

function checksOf(report: DoctorReport): CheckResult[] {
  expect(report.targets).toHaveLength(1);
  return report.targets[0]!.checks;
}

function check(report: DoctorReport, id: string): CheckResult {
  const found = checksOf(report).find((c) => c.id === id);
  expect(found, `no "${id}" check in ${JSON.stringify(report, null, 2)}`).toBeDefined();
  return found!;
}

/** Asserts that `id` is the first failing check (and the report not ok), and returns it. */
function firstFailure(report: DoctorReport, id: string): CheckResult {
  const checks = checksOf(report);
  const failure = checks.find((c) => c.status === "fail");
  expect(failure?.id, JSON.stringify(checks, null, 2)).toBe(id);
  expect(report.ok).toBe(false);
  expect(report.targets[0]!.ready).toBe(false);
  // The checks come in the documented order.
  const ids = checks.map((c) => c.id);
  expect(ids).toEqual(ORDER.filter((id) => ids.includes(id)));
  for (const id of ["config", "credentials", "identity", "reachability", "model", "access", "permission"]) {
    expect(ids).toContain(id);
  }
  // The summary names the same failure.
  expect(report.summary[0]).toContain(failure!.detail);
  return failure!;
}

/** A port on 127.0.0.1 that nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const SONNET = "claude-sonnet-4-6";
const SONNET_FOUNDATION = "anthropic.claude-sonnet-4-6";

describe("runDoctor: credentials", () => {
  it("no credentials at all: the credentials check fails and lists the ways to get some", async () => {
    const report = await doctor();
    const failure = firstFailure(report, "credentials");
    expect(failure.detail).toMatch(/No AWS credentials were found/);
    expect(failure.fix).toContain("aws configure sso");
    expect(failure.fix).toContain("aws sso login");
    expect(failure.fix).toContain("AWS_ACCESS_KEY_ID");
    expect(failure.fix).toContain("AWS_PROFILE");
    expect(check(report, "identity").status).toBe("skip");
    expect(check(report, "access").status).toBe("skip");
  });

  it("a partial key pair in the environment: names the missing variable and how to set it", async () => {
    process.env.AWS_ACCESS_KEY_ID = USER.accessKeyId;
    const report = await doctor();
    const failure = firstFailure(report, "credentials");
    expect(failure.detail).toBe("Only half of a key pair is set: AWS_SECRET_ACCESS_KEY is missing.");
    expect(failure.fix).toMatch(/^export AWS_SECRET_ACCESS_KEY=/);
    expect(failure.fix).toContain("unset AWS_ACCESS_KEY_ID");
    expect(check(report, "identity").status).toBe("skip");
  });

  it("a partial key pair in ~/.aws/credentials: names the profile and the missing key", async () => {
    await writeAwsFiles({
      config: "[default]\nregion = us-east-1\n",
      credentials: credentialsSection("default", { accessKeyId: USER.accessKeyId }),
    });
    const report = await doctor({ region: undefined });
    const failure = firstFailure(report, "credentials");
    expect(failure.detail).toBe('The profile "default" has aws_access_key_id but no aws_secret_access_key.');
    expect(failure.fix).toBe("aws configure --profile default");
  });

  it("a profile that does not exist: says so, names the profiles that do, and how to create it", async () => {
    await writeAwsFiles({
      config:
        "[default]\nregion = us-east-1\n[profile work]\nregion = eu-west-1\n[profile prod]\nregion = us-west-2\n",
      credentials: credentialsSection("work", USER) + credentialsSection("staging", USER),
    });
    process.env.AWS_PROFILE = "nope";
    const report = await doctor({ region: undefined });
    const failure = firstFailure(report, "credentials");
    expect(failure.detail).toContain('The profile "nope" is in neither ~/.aws/config nor ~/.aws/credentials');
    const listed = /profiles there: ([^)]*)\)/.exec(failure.detail)?.[1]?.split(", ");
    expect(listed?.sort()).toEqual(["default", "prod", "staging", "work"]);
    expect(failure.fix).toContain("aws configure --profile nope");
    expect(failure.fix).toContain("AWS_PROFILE");
  });

  it("the same with the profile option: the option's name is the one reported", async () => {
    await writeAwsFiles({
      config: "[default]\nregion = us-east-1\n",
      credentials: credentialsSection("default", USER),
    });
    const report = await doctor({ profile: "nope" });
    const failure = firstFailure(report, "credentials");
    expect(failure.detail).toContain('The profile "nope"');
    expect(failure.detail).toContain("profiles there: default");
    expect(failure.fix).toContain("aws configure --profile nope");
  });
});

describe("runDoctor: identity", () => {
  it("an unknown access key (from ~/.aws/credentials): identity fails, the key is unknown to AWS", async () => {
    await writeAwsFiles({
      config: "[default]\nregion = us-east-1\n",
      credentials: credentialsSection("default", {
        accessKeyId: "AKIANOTKNOWNANYWHERE",
        secretAccessKey: "whatever-secret",
      }),
    });
    const report = await doctor();
    expect(check(report, "credentials")).toMatchObject({ status: "pass" });
    expect(check(report, "credentials").detail).toContain('profile "default"');
    const failure = firstFailure(report, "identity");
    expect(failure.detail).toMatch(/AWS does not know this access key/);
    expect(failure.detail).toContain("deleted or deactivated");
    expect(failure.fix).toContain("AWS_ACCESS_KEY_ID");
    expect(failure.fix).toMatch(/aws configure|aws sso login/);
    expect(failure.evidence?.code).toBe("InvalidClientTokenId");
  });

  it("a wrong secret (named profile in ~/.aws files): identity fails, the secret is wrong", async () => {
    await writeAwsFiles({
      config: "[profile work]\nregion = us-east-1\n",
      credentials: credentialsSection("work", {
        accessKeyId: USER.accessKeyId,
        secretAccessKey: "not-the-secret",
      }),
    });
    const report = await doctor({ profile: "work" });
    expect(check(report, "credentials").status).toBe("pass");
    expect(check(report, "credentials").detail).toContain('profile "work"');
    const failure = firstFailure(report, "identity");
    expect(failure.detail).toBe(
      "The signature does not match: the secret access key is wrong for this access key id.",
    );
    expect(failure.fix).toContain("aws_secret_access_key");
    expect(failure.fix).toContain("aws configure");
    expect(failure.evidence?.code).toBe("SignatureDoesNotMatch");
  });

  it("an expired session token (environment): identity fails, the session has expired", async () => {
    setEnvKeys(EXPIRED_SESSION);
    const report = await doctor();
    expect(check(report, "credentials").status).toBe("pass");
    expect(check(report, "credentials").detail).toContain("temporary");
    const failure = firstFailure(report, "identity");
    expect(failure.detail).toMatch(/^The session credentials have expired/);
    expect(failure.detail).toContain("The security token included in the request is expired");
    expect(failure.fix).toMatch(/fresh temporary credentials/i);
    expect(failure.fix).toMatch(/aws sso login|aws sts assume-role/);
    expect(failure.evidence?.code).toBe("ExpiredToken");
  });

  it("an ASIA key without its session token is named as such before any call", async () => {
    process.env.AWS_ACCESS_KEY_ID = EXPIRED_SESSION.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = EXPIRED_SESSION.secretAccessKey;
    const report = await doctor();
    const failure = firstFailure(report, "credentials");
    expect(failure.detail).toContain("temporary key (ASIA…) but AWS_SESSION_TOKEN is not set");
    expect(failure.fix).toContain("export AWS_SESSION_TOKEN=");
  });
});

describe("runDoctor: reachability and clock", () => {
  it("the emulator's clock 15 minutes ahead: identity explains the clock, the clock check fails", async () => {
    const skewed = await startEmulator({
      port: 0,
      host: "127.0.0.1",
      now: () => Date.now() + 15 * MINUTE,
      config: { identities: [{ name: "doctor-user", ...USER, account: USER_ACCOUNT }] },
    });
    try {
      setEnvKeys(USER);
      const report = await doctor({ endpoint: skewed.url });
      const identity = firstFailure(report, "identity");
      expect(identity.detail).toMatch(/AWS refused the request's time: Signature expired/);
      expect(identity.detail).toContain("clock is off by more than five minutes");
      expect(identity.fix).toMatch(/^Sync the clock/);
      expect(identity.fix).toContain("chronyc");
      const clock = check(report, "clock");
      expect(clock.status).toBe("fail");
      expect(clock.detail).toMatch(
        /^(89\d|90\d) s behind the server: AWS refuses signatures more than 5 minutes off\.$/,
      );
      expect(Math.abs((clock.evidence?.skewSeconds as number) + 900)).toBeLessThanOrEqual(2);
      expect(clock.fix).toMatch(/^Sync the clock/);
    } finally {
      await skewed.close();
    }
  });

  it("a clock in step passes (the same emulator without the skew)", async () => {
    setEnvKeys(USER);
    const report = await doctor();
    const clock = check(report, "clock");
    expect(clock.status).toBe("pass");
    expect(Math.abs(clock.evidence?.skewSeconds as number)).toBeLessThanOrEqual(2);
  });

  it("an endpoint that refuses connections: reachability fails naming the refusal", async () => {
    const port = await closedPort();
    setEnvKeys(USER);
    const report = await doctor({ endpoint: `http://127.0.0.1:${port}` });
    const failure = firstFailure(report, "reachability");
    expect(failure.detail).toBe(`127.0.0.1:${port} refused the connection.`);
    expect(failure.fix).toContain("--endpoint");
    // STS is on the same endpoint: unreachable, said as a warning, not a wrong diagnosis.
    const identity = check(report, "identity");
    expect(identity.status).toBe("warn");
    expect(identity.detail).toContain("refused the connection");
    expect(check(report, "access").status).toBe("skip");
  });

  it("an unreachable endpoint still reports the clock check, skipped with the reason", async () => {
    const port = await closedPort();
    setEnvKeys(USER);
    const report = await doctor({ endpoint: `http://127.0.0.1:${port}` });
    // docs/doctor.md: "A check that an earlier failure makes meaningless is skipped and says so."
    expect(checksOf(report).map((c) => c.id)).toEqual(ORDER);
    const clock = check(report, "clock");
    expect(clock.status).toBe("skip");
    expect(clock.detail).toMatch(/skipped/);
  });
});

describe("runDoctor: model, access and permission", () => {
  it("an identity without bedrock:InvokeModel: permission fails with a least-privilege policy", async () => {
    setEnvKeys(READ_ONLY);
    const report = await doctor({ invoke: true });
    const failure = firstFailure(report, "permission");
    for (const earlier of ["credentials", "identity", "reachability", "clock", "model", "access"]) {
      expect(check(report, earlier).status).toBe("pass");
    }
    expect(failure.detail).toContain("is not authorized to perform: bedrock:InvokeModel");
    expect(failure.detail).toContain("bedrock:InvokeModelWithResponseStream");
    const [lead, ...json] = (failure.fix ?? "").split("\n");
    expect(lead).toBe("Attach this policy to the identity:");
    const policy = JSON.parse(json.join("\n")) as {
      Version: string;
      Statement: { Effect: string; Action: string[]; Resource: string[] }[];
    };
    expect(policy.Version).toBe("2012-10-17");
    expect(policy.Statement).toHaveLength(1);
    const statement = policy.Statement[0]!;
    expect(statement.Effect).toBe("Allow");
    expect(statement.Action.sort()).toEqual(["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]);
    const usRegions = shippedCatalog().geographies.us!.sourceRegions;
    expect(usRegions).toEqual(expect.arrayContaining(["us-east-1", "us-east-2", "us-west-2"]));
    expect(statement.Resource.sort()).toEqual(
      [
        `arn:aws:bedrock:us-east-1:${READ_ONLY_ACCOUNT}:inference-profile/us.${SONNET_FOUNDATION}`,
        ...usRegions.map((r) => `arn:aws:bedrock:${r}::foundation-model/${SONNET_FOUNDATION}`),
      ].sort(),
    );
  });

  it("the policy follows the region's geography (eu-west-1: the eu profile and its regions)", async () => {
    setEnvKeys(READ_ONLY);
    const report = await doctor({ region: "eu-west-1", invoke: true });
    const failure = firstFailure(report, "permission");
    const policy = JSON.parse((failure.fix ?? "").split("\n").slice(1).join("\n")) as {
      Statement: { Resource: string[] }[];
    };
    const euRegions = shippedCatalog().geographies.eu!.sourceRegions;
    expect(euRegions).toEqual(expect.arrayContaining(["eu-west-1", "eu-central-1"]));
    expect(policy.Statement[0]!.Resource.sort()).toEqual(
      [
        `arn:aws:bedrock:eu-west-1:${READ_ONLY_ACCOUNT}:inference-profile/eu.${SONNET_FOUNDATION}`,
        ...euRegions.map((r) => `arn:aws:bedrock:${r}::foundation-model/${SONNET_FOUNDATION}`),
      ].sort(),
    );
  });

  it("without --invoke the permission link is reported unproven, not passed", async () => {
    setEnvKeys(READ_ONLY);
    const report = await doctor();
    const permission = check(report, "permission");
    expect(permission.status).toBe("skip");
    expect(permission.detail).toMatch(/unproven: run with --invoke/);
    expect(permission.detail).toContain("costs a fraction of a cent");
  });

  it("a model without access granted: the access check fails and says where to enable it", async () => {
    setEnvKeys(NO_ACCESS);
    const report = await doctor({ invoke: true });
    const failure = firstFailure(report, "access");
    expect(check(report, "model").status).toBe("pass");
    expect(failure.detail).toMatch(/^Claude Sonnet 4\.6 in us-east-1: /);
    expect(failure.detail).toContain("not authorized");
    expect(failure.detail).not.toContain("not available in us-east-1");
    expect(failure.fix).toContain(
      "In the Bedrock console of us-east-1, open Model access and enable Claude Sonnet 4.6",
    );
    expect(check(report, "permission")).toMatchObject({ status: "skip" });
  });

  it("a model that needs an inference profile, called by its foundation id: a warning with the profile id", async () => {
    setEnvKeys(USER);
    const report = await doctor({ model: SONNET_FOUNDATION, invoke: true });
    const model = check(report, "model");
    expect(model.status).toBe("warn");
    expect(model.detail).toContain(`${SONNET_FOUNDATION} needs an inference profile for on-demand use here`);
    expect(model.fix).toContain(`Use us.${SONNET_FOUNDATION}`);
    expect(model.fix).toContain(SONNET);
    expect(model.evidence?.resolved).toBe(`us.${SONNET_FOUNDATION}`);
    // A warning, not a failure: the doctor calls the profile, and the invocation works.
    expect(checksOf(report).filter((c) => c.status === "fail")).toEqual([]);
    expect(check(report, "permission").status).toBe("pass");
    expect(check(report, "permission").detail).toContain(`us.${SONNET_FOUNDATION}`);
    expect(report.ok).toBe(true);
  });

  it("a model absent from the region: the model check fails and names the regions that serve it", async () => {
    setEnvKeys(USER);
    // Claude Opus 4.1 has only a `us` inference profile: Europe does not serve it.
    const report = await doctor({ model: "claude-opus-4-1", region: "eu-west-1" });
    const failure = firstFailure(report, "model");
    expect(failure.detail).toBe("claude-opus-4-1 is not available in eu-west-1.");
    const regions = /Use a region that serves it \(([^)]*)\)/.exec(failure.fix ?? "")?.[1]?.split(", ");
    expect(regions).toEqual(expect.arrayContaining(["us-east-1", "us-east-2", "us-west-2"]));
    expect(regions).not.toContain("eu-west-1");
    // The alternatives offered do resolve in eu-west-1.
    const choices = /or one of: (.*)\.$/.exec(failure.fix ?? "")?.[1]?.split(", ") ?? [];
    expect(choices.length).toBeGreaterThan(0);
    for (const name of choices) {
      expect(() =>
        resolveModel(shippedCatalog(), name, { provider: "bedrock", region: "eu-west-1" }),
      ).not.toThrow();
    }
    expect(check(report, "access").status).toBe("skip");
  });
});

describe("runDoctor: all green", () => {
  it("credentials from ~/.aws files, region from the profile, with --invoke: every check passes", async () => {
    await writeAwsFiles({
      config: "[default]\nregion = us-west-2\n",
      credentials: credentialsSection("default", USER),
    });
    const report = await doctor({ region: undefined, invoke: true });
    const checks = checksOf(report);
    expect(checks.map((c) => c.id)).toEqual(ORDER);
    expect(checks.map((c) => [c.id, c.status])).toEqual(ORDER.map((id) => [id, "pass"]));
    expect(report.ok).toBe(true);
    expect(report.summary).toEqual([expect.stringMatching(/: ready$/)]);
    expect(check(report, "config").detail).toContain("bedrock in us-west-2 (region from profile)");
    expect(check(report, "credentials").detail).toContain('profile "default"');
    expect(check(report, "identity").detail).toBe(`${USER_ARN} (account ${USER_ACCOUNT})`);
    expect(check(report, "model").detail).toBe(`${SONNET} → us.${SONNET_FOUNDATION}.`);
    expect(check(report, "access").detail).toBe("Claude Sonnet 4.6: access granted in us-west-2.");
    expect(check(report, "permission").detail).toBe(
      `InvokeModel and InvokeModelWithResponseStream on us.${SONNET_FOUNDATION} work (two 1-token calls).`,
    );
    // The two 1-token calls really reached the runtime.
    const invocations = emulator.current
      .requests()
      .filter((r) => r.api === "bedrock-runtime" && r.identity === "doctor-user" && r.region === "us-west-2");
    expect(invocations.map((r) => [r.stream, r.status, r.outputTokens])).toEqual(
      expect.arrayContaining([
        [false, 200, 1],
        [true, 200, 1],
      ]),
    );
  });

  it("credentials given in code are used even when the environment has none", async () => {
    const report = await doctor({ credentials: USER, invoke: true });
    expect(checksOf(report).map((c) => [c.id, c.status])).toEqual(ORDER.map((id) => [id, "pass"]));
    expect(check(report, "credentials").detail).toContain("credentials given in code");
    expect(check(report, "identity").detail).toBe(`${USER_ARN} (account ${USER_ACCOUNT})`);
    expect(report.ok).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// The CLI.

const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const ESC = "\u001b[";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from the last byte of output to the exit. */
  lingerMs: number;
}

/** A spawned CLI takes a few seconds (tsx); the doctor's own timeouts are 10 to 15 s. */
const CLI_TIMEOUT = 90_000;

/**
 * A clean environment for a child: no AWS_* or BEDROCK_CLAUDE_* from this machine, a fresh HOME,
 * no instance metadata; `extra` adds variables, or removes them with `undefined`.
 */
function childEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (ISOLATED_VARIABLES.test(name) && !KEPT_AWS_VARIABLES.has(name)) continue;
    if (name === "NO_COLOR" || name === "FORCE_COLOR") continue;
    env[name] = value;
  }
  const merged: NodeJS.ProcessEnv = {
    ...env,
    HOME: sandbox.home,
    AWS_CONFIG_FILE: path.join(sandbox.awsDir, "config"),
    AWS_SHARED_CREDENTIALS_FILE: path.join(sandbox.awsDir, "credentials"),
    AWS_EC2_METADATA_DISABLED: "true",
    BEDROCK_CLAUDE_HOME: path.join(sandbox.home, "bedrock-claude-home"),
    ...extra,
  };
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
  return merged;
}

function cli(args: string[], extra: Record<string, string | undefined> = {}): Promise<Run> {
  return runProcess(process.execPath, ["--import", "tsx", MAIN, "doctor", ...args], { env: childEnv(extra) });
}

/** The CLI on a real terminal (a pseudo-terminal from util-linux `script`): stdout.isTTY is true. */
function cliOnTerminal(args: string[], extra: Record<string, string> = {}): Promise<Run> {
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const command = [process.execPath, "--import", "tsx", MAIN, "doctor", ...args].map(quote).join(" ");
  return runProcess("script", ["-qec", command, "/dev/null"], { env: childEnv(extra) });
}

/** The mark and title of each check line (`  ✓ Credentials: ...`). */
function markLines(stdout: string): [string, string][] {
  return [...stdout.matchAll(/^ {2}(\S+) ([^:]+):/gm)].map((m) => [m[1]!, m[2]!]);
}

describe("bedrock-claude doctor", () => {
  const keys = { AWS_ACCESS_KEY_ID: USER.accessKeyId, AWS_SECRET_ACCESS_KEY: USER.secretAccessKey };

  it(
    "--emulator passes on a fresh clone: exit 0, a ✓ line per check, permission unproven",
    async () => {
      // A fresh machine: no AWS variables at all, an empty HOME.
      const result = await cli(["--emulator"], { AWS_EC2_METADATA_DISABLED: undefined });
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(markLines(result.stdout)).toEqual([
        ["✓", "Configuration"],
        ["✓", "Credentials"],
        ["✓", "Identity"],
        ["✓", "Reachability"],
        ["✓", "Clock"],
        ["✓", "Model"],
        ["✓", "Model access"],
        ["-", "Permission"],
      ]);
      expect(result.stdout).toContain("Credentials: credentials given in code");
      expect(result.stdout).toContain("All checks passed.");
    },
    CLI_TIMEOUT,
  );

  it(
    "--emulator uses the emulator's credentials whatever the machine's AWS setup (metadata off, missing profile)",
    async () => {
      for (const env of [{}, { AWS_PROFILE: "nope" }, { AWS_ACCESS_KEY_ID: "AKIAHALFAPAIR0000001" }]) {
        const result = await cli(["--emulator"], env);
        expect(result.code, `${JSON.stringify(env)}\n${result.stdout}${result.stderr}`).toBe(0);
        expect(markLines(result.stdout)).toContainEqual(["✓", "Credentials"]);
      }
    },
    CLI_TIMEOUT * 3,
  );

  it(
    "--emulator --invoke: every line ✓, exit 0",
    async () => {
      const result = await cli(["--emulator", "--invoke"], { AWS_EC2_METADATA_DISABLED: undefined });
      expect(result.code, result.stdout + result.stderr).toBe(0);
      const marks = markLines(result.stdout);
      expect(marks.map(([, title]) => title)).toEqual([
        "Configuration",
        "Credentials",
        "Identity",
        "Reachability",
        "Clock",
        "Model",
        "Model access",
        "Permission",
      ]);
      expect(marks.every(([mark]) => mark === "✓")).toBe(true);
    },
    CLI_TIMEOUT,
  );

  it(
    "exits as soon as the report is printed (no timer left running)",
    async () => {
      const result = await cli(["--endpoint", emulator.current.url, "--region", "us-east-1"], keys);
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(result.lingerMs).toBeLessThan(5_000);
    },
    CLI_TIMEOUT,
  );

  it(
    "a failing case exits 1, with ✗ on the broken link and the fix under it",
    async () => {
      const result = await cli(
        ["--endpoint", emulator.current.url, "--region", "eu-west-1", "--model", "claude-opus-4-1"],
        keys,
      );
      expect(result.code, result.stdout + result.stderr).toBe(1);
      const marks = markLines(result.stdout);
      expect(marks.find(([mark]) => mark === "✗")).toEqual(["✗", "Model"]);
      const lines = result.stdout.split("\n");
      const at = lines.findIndex((l) => l.startsWith("  ✗ Model:"));
      expect(lines[at]).toContain("claude-opus-4-1 is not available in eu-west-1.");
      expect(lines[at + 1]).toMatch(/^ {6}Use a region that serves it \(/);
      expect(result.stdout).toContain("Some checks failed: fix the first one above");
    },
    CLI_TIMEOUT,
  );

  it(
    "a run without credentials exits 1 and prints the commands to get some",
    async () => {
      const result = await cli(["--endpoint", emulator.current.url]);
      expect(result.code).toBe(1);
      expect(markLines(result.stdout).find(([mark]) => mark === "✗")).toEqual(["✗", "Credentials"]);
      expect(result.stdout).toContain("      aws configure sso");
    },
    CLI_TIMEOUT,
  );

  it(
    "--json prints the report, parseable, with the same verdict as the exit code",
    async () => {
      const green = await cli(["--endpoint", emulator.current.url, "--region", "us-east-1", "--json"], keys);
      expect(green.code, green.stderr).toBe(0);
      const report = JSON.parse(green.stdout) as DoctorReport;
      expect(report.ok).toBe(true);
      expect(report.targets[0]!.checks.map((c) => c.id)).toEqual(ORDER);
      expect(report.targets[0]!.checks.find((c) => c.id === "identity")?.evidence).toMatchObject({
        account: USER_ACCOUNT,
        arn: USER_ARN,
      });

      const red = await cli(["--endpoint", emulator.current.url, "--json"], {
        AWS_ACCESS_KEY_ID: USER.accessKeyId,
      });
      expect(red.code).toBe(1);
      const failed = JSON.parse(red.stdout) as DoctorReport;
      expect(failed.ok).toBe(false);
      expect(failed.targets[0]!.checks.find((c) => c.status === "fail")).toMatchObject({
        id: "credentials",
        fix: expect.stringContaining("export AWS_SECRET_ACCESS_KEY="),
      });
    },
    CLI_TIMEOUT * 2,
  );

  it(
    "colours the marks on a terminal, and not at all with NO_COLOR",
    async () => {
      const args = ["--endpoint", emulator.current.url, "--region", "us-east-1"];
      const coloured = await cliOnTerminal(args, keys);
      expect(coloured.code, coloured.stdout + coloured.stderr).toBe(0);
      expect(coloured.stdout).toContain(`${ESC}32m✓${ESC}0m Credentials:`);

      const plain = await cliOnTerminal(args, { ...keys, NO_COLOR: "1" });
      expect(plain.code, plain.stdout + plain.stderr).toBe(0);
      expect(plain.stdout).toContain("✓ Credentials:");
      expect(plain.stdout).not.toContain("\u001b");
    },
    CLI_TIMEOUT * 2,
  );
});
