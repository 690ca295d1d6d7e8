import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import Anthropic from "@anthropic-ai/sdk";
import type { AwsCredentialIdentity } from "@smithy/types";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveRegion } from "../../src/aws/region.js";
import { type CreateClientOptions, createClient, resolveTargets } from "../../src/client.js";
import type { RequestRecord } from "../../src/emulator/index.js";
import { useAwsSandbox, useEmulator } from "../helpers.js";

const MINUTE = 60_000;
/** When the suite loads; the emulator's session identities expire relative to it. */
const T0 = Date.now();

interface Keys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const DEFAULT_USER: Keys = { accessKeyId: "AKIADEFAULTUSER00001", secretAccessKey: "default-user-secret" };
const WORK_USER: Keys = { accessKeyId: "AKIAWORKPROFILE00001", secretAccessKey: "work-user-secret" };
const ENV_USER: Keys = { accessKeyId: "AKIAENVIRONMENT00001", secretAccessKey: "env-user-secret" };
const STATIC_USER: Keys = { accessKeyId: "AKIASTATICKEYS000001", secretAccessKey: "static-user-secret" };
const FUNCTION_USER: Keys = { accessKeyId: "AKIAPROVIDERFN000001", secretAccessKey: "function-user-secret" };
const CONFIG_USER: Keys = { accessKeyId: "AKIACONFIGFILE000001", secretAccessKey: "config-user-secret" };
/** Temporary credentials handed out by the credential_process script, alternately. */
const SESSION_A: Required<Keys> = {
  accessKeyId: "ASIAPROCESSSESSIONA1",
  secretAccessKey: "session-a-secret",
  sessionToken: "session-a-token",
};
const SESSION_B: Required<Keys> = {
  accessKeyId: "ASIAPROCESSSESSIONB1",
  secretAccessKey: "session-b-secret",
  sessionToken: "session-b-token",
};
/** A long-term Bedrock API key (ABSK + base64) carried by its own identity. */
const KEYHOLDER_API_KEY = `ABSK${Buffer.from("keyholder-api-key-for-tests").toString("base64")}`;
/**
 * Session A stops working here on the emulator's clock. The tests set that clock just before or
 * just after it, staying within the five minutes of skew SigV4 allows.
 */
const SESSION_A_EXPIRES = T0 + 2 * MINUTE;

/** Sets the emulator's clock to `at` (milliseconds since the epoch). */
function emulatorClockAt(at: number): void {
  emulatorClockOffset = at - Date.now();
}

/** Offset added to the emulator's clock (the client keeps the real one). */
let emulatorClockOffset = 0;

const emulator = useEmulator({
  now: () => Date.now() + emulatorClockOffset,
  config: {
    identities: [
      { name: "default-user", ...DEFAULT_USER },
      { name: "work-user", ...WORK_USER },
      { name: "env-user", ...ENV_USER },
      { name: "static-user", ...STATIC_USER },
      { name: "function-user", ...FUNCTION_USER },
      { name: "config-user", ...CONFIG_USER },
      { name: "session-a", ...SESSION_A, expiresAt: new Date(SESSION_A_EXPIRES).toISOString() },
      { name: "session-b", ...SESSION_B },
      { name: "keyholder", accessKeyId: "AKIAKEYHOLDER0000001", secretAccessKey: "keyholder-secret" },
    ],
    apiKeys: [{ key: KEYHOLDER_API_KEY, identity: "keyholder" }],
  },
});

const sandbox = useAwsSandbox("bedrock-claude-credentials-");

beforeEach(() => {
  emulatorClockOffset = 0;
  emulator.current.resetJournal();
});

afterEach(() => {
  emulatorClockOffset = 0;
});

function writeAwsFiles(files: { config?: string; credentials?: string }): Promise<void> {
  return sandbox.writeAwsFiles(files);
}

function credentialsSection(name: string, keys: Keys): string {
  return [
    `[${name}]`,
    `aws_access_key_id = ${keys.accessKeyId}`,
    `aws_secret_access_key = ${keys.secretAccessKey}`,
    ...(keys.sessionToken ? [`aws_session_token = ${keys.sessionToken}`] : []),
    "",
  ].join("\n");
}

function setEnvKeys(keys: Keys): void {
  process.env.AWS_ACCESS_KEY_ID = keys.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = keys.secretAccessKey;
  if (keys.sessionToken) process.env.AWS_SESSION_TOKEN = keys.sessionToken;
}

function client(options: CreateClientOptions = {}): Anthropic {
  return createClient({ endpoint: emulator.current.url, anthropic: { maxRetries: 0 }, ...options });
}

async function ask(c: Anthropic, model = "claude-sonnet-4-6"): Promise<Anthropic.Message> {
  return c.messages.create({ model, max_tokens: 16, messages: [{ role: "user", content: "Hello" }] });
}

/** The runtime calls the emulator logged since the test began. */
function calls(): RequestRecord[] {
  return emulator.current.requests().filter((r) => r.api === "bedrock-runtime");
}

describe("credentials from the shared files", () => {
  it("uses the default profile of ~/.aws/credentials", async () => {
    await writeAwsFiles({
      config: "[default]\nregion = us-east-1\n",
      credentials: credentialsSection("default", DEFAULT_USER) + credentialsSection("work", WORK_USER),
    });
    const message = await ask(client());
    expect(message.type).toBe("message");
    expect(calls().map((r) => [r.identity, r.status])).toEqual([["default-user", 200]]);
  });

  it("uses a named profile given as the profile option", async () => {
    await writeAwsFiles({
      config: "[default]\nregion = us-east-1\n[profile work]\nregion = us-east-1\n",
      credentials: credentialsSection("default", DEFAULT_USER) + credentialsSection("work", WORK_USER),
    });
    await ask(client({ profile: "work" }));
    expect(calls().map((r) => [r.identity, r.status])).toEqual([["work-user", 200]]);
  });

  it("uses the profile AWS_PROFILE names, and that profile's region", async () => {
    await writeAwsFiles({
      config: "[default]\nregion = us-east-1\n[profile work]\nregion = eu-west-1\n",
      credentials: credentialsSection("default", DEFAULT_USER) + credentialsSection("work", WORK_USER),
    });
    process.env.AWS_PROFILE = "work";
    await ask(client());
    expect(calls().map((r) => [r.identity, r.region, r.model, r.status])).toEqual([
      ["work-user", "eu-west-1", "eu.anthropic.claude-sonnet-4-6", 200],
    ]);
  });

  it("prefers environment credentials over AWS_PROFILE when no profile option is given", async () => {
    await writeAwsFiles({
      config: "[profile work]\nregion = us-east-1\n",
      credentials: credentialsSection("work", WORK_USER),
    });
    process.env.AWS_PROFILE = "work";
    setEnvKeys(ENV_USER);
    await ask(client());
    expect(calls().map((r) => [r.identity, r.status])).toEqual([["env-user", 200]]);
  });

  it("prefers an explicit profile option over environment credentials", async () => {
    await writeAwsFiles({
      config: "[profile work]\nregion = us-east-1\n",
      credentials: credentialsSection("work", WORK_USER),
    });
    setEnvKeys(ENV_USER);
    await ask(client({ profile: "work" }));
    expect(calls().map((r) => [r.identity, r.status])).toEqual([["work-user", 200]]);
  });
});

describe("credentials given in code", () => {
  it("signs with static credentials, ignoring the environment and the files", async () => {
    await writeAwsFiles({ credentials: credentialsSection("default", DEFAULT_USER) });
    setEnvKeys(ENV_USER);
    await ask(client({ region: "us-east-1", credentials: STATIC_USER }));
    expect(calls().map((r) => [r.identity, r.status])).toEqual([["static-user", 200]]);
  });

  it("calls a provider function once across several requests (cached)", async () => {
    let loads = 0;
    const provider = async (): Promise<AwsCredentialIdentity> => {
      loads++;
      return { ...FUNCTION_USER };
    };
    const c = client({ region: "us-east-1", credentials: provider });
    await ask(c);
    await ask(c);
    await Promise.all([ask(c), ask(c)]);
    expect(loads).toBe(1);
    expect(calls().map((r) => r.identity)).toEqual(Array(4).fill("function-user"));
  });

  it("calls a provider function again when its credentials expire within five minutes", async () => {
    let loads = 0;
    const provider = async (): Promise<AwsCredentialIdentity> => {
      loads++;
      return { ...FUNCTION_USER, expiration: new Date(Date.now() + MINUTE) };
    };
    const c = client({ region: "us-east-1", credentials: provider });
    await ask(c);
    await ask(c);
    expect(loads).toBe(2);
    expect(calls().map((r) => [r.identity, r.status])).toEqual([
      ["function-user", 200],
      ["function-user", 200],
    ]);
  });
});

describe("expired session credentials", () => {
  /**
   * A credential_process script: hands out session A, then session B, then A... (a counter file
   * in the temp dir), each expiring one minute from now: inside the five-minute refresh margin,
   * so the cached credentials are stale at the next call.
   */
  async function writeCredentialProcess(): Promise<{ script: string; counter: string }> {
    const script = path.join(sandbox.home, "credential-process.cjs");
    const counter = path.join(sandbox.home, "credential-process.count");
    await writeFile(
      script,
      [
        'const fs = require("node:fs");',
        `const counter = ${JSON.stringify(counter)};`,
        'const n = fs.existsSync(counter) ? Number(fs.readFileSync(counter, "utf8")) : 0;',
        "fs.writeFileSync(counter, String(n + 1));",
        `const sessions = ${JSON.stringify([SESSION_A, SESSION_B])};`,
        "const s = sessions[n % 2];",
        "process.stdout.write(JSON.stringify({",
        "  Version: 1,",
        "  AccessKeyId: s.accessKeyId,",
        "  SecretAccessKey: s.secretAccessKey,",
        "  SessionToken: s.sessionToken,",
        "  Expiration: new Date(Date.now() + 60000).toISOString(),",
        "}));",
        "",
      ].join("\n"),
    );
    return { script, counter };
  }

  it("refreshes credential_process credentials that are about to expire, before the next call", async () => {
    const { script, counter } = await writeCredentialProcess();
    await writeAwsFiles({
      config: `[profile temporary]\nregion = us-west-2\ncredential_process = "${process.execPath}" "${script}"\n`,
      credentials: "",
    });
    const c = client({ profile: "temporary" });
    emulatorClockAt(SESSION_A_EXPIRES - 30_000);
    await ask(c);
    // The emulator's clock moves past session A's expiry: reusing A would now be refused.
    emulatorClockAt(SESSION_A_EXPIRES + 30_000);
    const second = await ask(c).catch((e: unknown) => e);
    // Session B signed the second call: the stale session A was not reused.
    expect(calls().map((r) => [r.identity, r.region, r.status, r.errorName])).toEqual([
      ["session-a", "us-west-2", 200, null],
      ["session-b", "us-west-2", 200, null],
    ]);
    expect(second).not.toBeInstanceOf(Error);
    expect(Number(await readFile(counter, "utf8"))).toBeGreaterThanOrEqual(2);
  });

  it("the emulator does refuse session A once it has expired (the refresh above is needed)", async () => {
    emulatorClockAt(SESSION_A_EXPIRES + 30_000);
    const c = client({ region: "us-east-1", credentials: SESSION_A });
    const error = await ask(c).catch((e: unknown) => e);
    // AWS's 403 ExpiredTokenException, as the Anthropic API's authentication_error (401).
    expect(error).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((error as Error).message).toMatch(/security token included in the request is expired/);
    // A request that fails authentication is logged without an identity.
    expect(calls().map((r) => [r.status, r.errorName])).toEqual([[403, "ExpiredTokenException"]]);
  });
});

describe("no credentials", () => {
  it("fails with an AuthenticationError that says how to fix it, without calling upstream", async () => {
    // The shared files do not exist; nothing in the environment; no instance metadata.
    const c = client({ region: "us-east-1" });
    const error = await ask(c).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.AuthenticationError);
    const message = (error as Error).message;
    expect(message).toMatch(/aws sso login/);
    expect(message).toMatch(/AWS_PROFILE/);
    expect(message).toMatch(/AWS_ACCESS_KEY_ID/);
    expect(calls()).toEqual([]);
  });
});

describe("Bedrock API key", () => {
  it("AWS_BEARER_TOKEN_BEDROCK selects API-key auth over AWS credentials", async () => {
    await writeAwsFiles({ credentials: credentialsSection("default", DEFAULT_USER) });
    setEnvKeys(ENV_USER);
    process.env.AWS_BEARER_TOKEN_BEDROCK = KEYHOLDER_API_KEY;
    const [target] = await resolveTargets({ endpoint: emulator.current.url, region: "us-east-1" });
    expect(target!.auth).toEqual({ kind: "bearer", token: KEYHOLDER_API_KEY });
    await ask(client({ region: "us-east-1" }));
    expect(calls().map((r) => [r.identity, r.status])).toEqual([["keyholder", 200]]);
  });

  it("without AWS_BEARER_TOKEN_BEDROCK the target signs with SigV4", async () => {
    const [target] = await resolveTargets({ endpoint: emulator.current.url, region: "us-east-1" });
    expect(target!.auth.kind).toBe("sigv4");
  });
});

describe("region", () => {
  it("comes from the profile's region in ~/.aws/config when no option or variable sets it", async () => {
    await writeAwsFiles({
      config: "[default]\nregion = ap-northeast-1\n",
      credentials: credentialsSection("default", DEFAULT_USER),
    });
    expect(await resolveRegion()).toEqual({ region: "ap-northeast-1", source: "profile" });
    await ask(client());
    expect(calls().map((r) => [r.region, r.model, r.status])).toEqual([
      ["ap-northeast-1", "jp.anthropic.claude-sonnet-4-6", 200],
    ]);
  });

  it("comes from the named profile's region when the profile option is given", async () => {
    await writeAwsFiles({
      config: "[default]\nregion = us-east-1\n[profile work]\nregion = eu-central-1\n",
      credentials: credentialsSection("work", WORK_USER),
    });
    expect(await resolveRegion(undefined, "work")).toEqual({ region: "eu-central-1", source: "profile" });
    const [target] = await resolveTargets({ profile: "work" });
    expect(target!.region).toBe("eu-central-1");
  });

  it("AWS_REGION wins over the profile's region", async () => {
    await writeAwsFiles({
      config: "[default]\nregion = ap-northeast-1\n",
      credentials: credentialsSection("default", DEFAULT_USER),
    });
    process.env.AWS_REGION = "eu-west-1";
    process.env.AWS_DEFAULT_REGION = "us-west-2";
    expect(await resolveRegion()).toEqual({ region: "eu-west-1", source: "AWS_REGION" });
    await ask(client());
    expect(calls().map((r) => [r.region, r.model, r.status])).toEqual([
      ["eu-west-1", "eu.anthropic.claude-sonnet-4-6", 200],
    ]);
  });

  it("AWS_DEFAULT_REGION wins over the profile's region", async () => {
    await writeAwsFiles({
      config: "[default]\nregion = ap-northeast-1\n",
      credentials: credentialsSection("default", DEFAULT_USER),
    });
    process.env.AWS_DEFAULT_REGION = "us-west-2";
    expect(await resolveRegion()).toEqual({ region: "us-west-2", source: "AWS_DEFAULT_REGION" });
    await ask(client());
    expect(calls().map((r) => [r.region, r.model, r.status])).toEqual([
      ["us-west-2", "us.anthropic.claude-sonnet-4-6", 200],
    ]);
  });

  it("the option wins over AWS_REGION", async () => {
    process.env.AWS_REGION = "eu-west-1";
    expect(await resolveRegion("us-east-2")).toEqual({ region: "us-east-2", source: "option" });
    const [target] = await resolveTargets({ region: "us-east-2" });
    expect(target!.region).toBe("us-east-2");
  });

  it("defaults to us-east-1 with no option, variable or profile region", async () => {
    expect(await resolveRegion()).toEqual({ region: "us-east-1", source: "default" });
  });
});

describe("endpoints", () => {
  it("AWS_ENDPOINT_URL_BEDROCK_RUNTIME is used when no endpoint option is given", async () => {
    process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = emulator.current.url;
    const [target] = await resolveTargets({ region: "us-east-1" });
    expect(target!.baseUrl).toBe(emulator.current.url.replace(/\/$/, ""));
    await ask(createClient({ region: "us-east-1", credentials: STATIC_USER, anthropic: { maxRetries: 0 } }));
    expect(calls().map((r) => [r.identity, r.status])).toEqual([["static-user", 200]]);
  });

  it("defaults to the regional bedrock-runtime endpoint", async () => {
    const [target] = await resolveTargets({ region: "eu-west-3" });
    expect(target!.baseUrl).toBe("https://bedrock-runtime.eu-west-3.amazonaws.com");
    expect(target!.controlPlaneUrl).toBe("https://bedrock.eu-west-3.amazonaws.com");
  });
});

describe("config file precedence", () => {
  async function writeConfig(config: Record<string, unknown>): Promise<string> {
    const file = path.join(sandbox.home, "bedrock-claude.json");
    await writeFile(file, JSON.stringify(config));
    process.env.BEDROCK_CLAUDE_CONFIG = file;
    return file;
  }

  it("reads provider and region from BEDROCK_CLAUDE_CONFIG, over AWS_REGION", async () => {
    await writeConfig({ provider: "bedrock-mantle", region: "eu-west-1" });
    process.env.AWS_REGION = "us-west-2";
    const [target] = await resolveTargets();
    expect([target!.provider, target!.region]).toEqual(["bedrock-mantle", "eu-west-1"]);
    expect(target!.baseUrl).toBe("https://bedrock-mantle.eu-west-1.api.aws");
  });

  it("BEDROCK_CLAUDE_REGION overrides the config file's region; the file's provider stays", async () => {
    await writeConfig({ provider: "bedrock-mantle", region: "eu-west-1" });
    process.env.BEDROCK_CLAUDE_REGION = "eu-central-1";
    const [target] = await resolveTargets();
    expect([target!.provider, target!.region]).toEqual(["bedrock-mantle", "eu-central-1"]);
  });

  it("the region option overrides BEDROCK_CLAUDE_REGION and the file", async () => {
    await writeConfig({ provider: "bedrock-mantle", region: "eu-west-1" });
    process.env.BEDROCK_CLAUDE_REGION = "eu-central-1";
    const [target] = await resolveTargets({ region: "ap-northeast-1" });
    expect([target!.provider, target!.region]).toEqual(["bedrock-mantle", "ap-northeast-1"]);
  });

  it("a client configured by the file alone calls the file's endpoint in the file's region", async () => {
    await writeConfig({ endpoint: emulator.current.url, region: "eu-west-1" });
    setEnvKeys(CONFIG_USER);
    await ask(createClient({ anthropic: { maxRetries: 0 } }));
    expect(calls().map((r) => [r.identity, r.region, r.model, r.status])).toEqual([
      ["config-user", "eu-west-1", "eu.anthropic.claude-sonnet-4-6", 200],
    ]);
  });
});
