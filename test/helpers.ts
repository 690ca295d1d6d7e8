/**
 * Shared test helpers: an emulator on a free port, a SigV4 signer for hand-made requests
 * (the same `@smithy/signature-v4` the AWS SDK signs with) for cases no official client sends, and
 * a poll for what finishes asynchronously.
 */

import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, afterEach, beforeAll, beforeEach, expect } from "vitest";
import { type RunningEmulator, type StartEmulatorOptions, startEmulator } from "../src/emulator/index.js";

export const TEST_CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" } as const;

/** Starts an emulator on 127.0.0.1:0 for the enclosing suite and closes it afterwards. */
export function useEmulator(options: StartEmulatorOptions = {}): { readonly current: RunningEmulator } {
  const holder: { current: RunningEmulator } = { current: undefined as unknown as RunningEmulator };
  beforeAll(async () => {
    holder.current = await startEmulator({ port: 0, host: "127.0.0.1", ...options });
  });
  afterAll(async () => {
    await holder.current?.close();
  });
  return holder;
}

export interface SignedFetchOptions {
  method?: string;
  /** Path as it goes on the wire (already percent-encoded where needed), with query. */
  path: string;
  body?: string | Uint8Array;
  headers?: Record<string, string>;
  region?: string;
  service?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  signingDate?: Date;
  /** Change the body after signing (a tampered request). */
  tamper?: (body: Uint8Array) => Uint8Array;
}

/** Signs a request with SigV4 and sends it over HTTP/1.1 (fetch). */
export async function signedFetch(baseUrl: string, options: SignedFetchOptions): Promise<Response> {
  const url = new URL(baseUrl);
  const body =
    typeof options.body === "string"
      ? new TextEncoder().encode(options.body)
      : (options.body ?? new Uint8Array());
  const [path, rawQuery = ""] = options.path.split("?");
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(rawQuery)) query[k] = v;
  const signer = new SignatureV4({
    service: options.service ?? "bedrock",
    region: options.region ?? "us-east-1",
    credentials: options.credentials ?? TEST_CREDENTIALS,
    sha256: Hash.bind(null, "sha256"),
  });
  const method = options.method ?? "POST";
  const signed = await signer.sign(
    {
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path: path!,
      query,
      headers: { host: url.host, "content-type": "application/json", ...(options.headers ?? {}) },
      body: method === "GET" ? undefined : body,
    },
    { signingDate: options.signingDate },
  );
  const headers = new Headers();
  for (const [k, v] of Object.entries(signed.headers)) if (k !== "host") headers.set(k, String(v));
  const sent = options.tamper ? options.tamper(body) : body;
  return fetch(`${baseUrl}${options.path}`, {
    method,
    headers,
    body: method === "GET" ? undefined : Buffer.from(sent),
  });
}

/** A minimal valid InvokeModel body. */
export function invokeBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    anthropic_version: "bedrock-2023-05-31",
    max_tokens: 64,
    messages: [{ role: "user", content: "Hello" }],
    ...overrides,
  };
}

/**
 * Ids from the shipped catalog (active models, so tests do not depend on today's date).
 * Haiku 4.5 has a dated id with `:0`, the case where URL encodings differ between clients.
 */
export const SONNET_46_PROFILE = "us.anthropic.claude-sonnet-4-6";
export const SONNET_46_FOUNDATION = "anthropic.claude-sonnet-4-6";
export const HAIKU_45_PROFILE = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
export const HAIKU_45_FOUNDATION = "anthropic.claude-haiku-4-5-20251001-v1:0";
export const OPUS_47_PROFILE = "us.anthropic.claude-opus-4-7";

/** What a finished child process printed. */
export interface ProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** How long it lived after its last output (a timer left running shows here). */
  lingerMs: number;
}

/** Runs a command to its end, collecting its output; `stdin` is written and closed. */
export function runProcess(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: string } = {},
): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"], env: options.env ?? process.env });
    let stdout = "";
    let stderr = "";
    let lastOutput = Date.now();
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      lastOutput = Date.now();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      lastOutput = Date.now();
    });
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stdout, stderr, lingerMs: Date.now() - lastOutput }));
    child.stdin.end(options.stdin ?? "");
  });
}

/** The CLI's source entry point, run through tsx so tests exercise the current code. */
export const CLI_MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

/**
 * Runs `bedrock-claude ARGS` as a user would. `env` is laid over this process's environment; a
 * variable set to `undefined` is removed.
 */
export function runCli(
  args: string[],
  options: { env?: Record<string, string | undefined>; stdin?: string } = {},
): Promise<ProcessRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  return runProcess(process.execPath, ["--import", "tsx", CLI_MAIN, ...args], { env, stdin: options.stdin });
}

/** The AWS SDK's Node-version warning switch: set by the test runner, kept for children too. */
export const KEPT_AWS_VARIABLES = new Set(["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"]);
/** Variables a sandbox clears: every AWS_* and BEDROCK_CLAUDE_* of this machine. */
export const ISOLATED_VARIABLES = /^(AWS_|BEDROCK_CLAUDE_)/;

export interface AwsSandbox {
  /** The fresh HOME of the current test. */
  readonly home: string;
  /** `$HOME/.aws`, empty until the test writes files. */
  readonly awsDir: string;
  writeAwsFiles(files: { config?: string; credentials?: string }): Promise<void>;
}

/**
 * A fresh HOME with an empty `~/.aws` per test (fresh paths: the SDK's ini loader caches files by
 * path), every AWS_* and BEDROCK_CLAUDE_* variable of this machine cleared and restored after, and
 * no instance metadata (on an EC2 host the chain would otherwise find the host's role).
 */
export function useAwsSandbox(prefix: string): AwsSandbox {
  let saved: Record<string, string | undefined> = {};
  const sandbox = { home: "", awsDir: "" };
  beforeEach(async () => {
    saved = {};
    for (const name of Object.keys(process.env)) {
      if (ISOLATED_VARIABLES.test(name) || name === "HOME") saved[name] = process.env[name];
    }
    for (const name of Object.keys(process.env)) {
      if (ISOLATED_VARIABLES.test(name) && !KEPT_AWS_VARIABLES.has(name)) delete process.env[name];
    }
    sandbox.home = await mkdtemp(path.join(os.tmpdir(), prefix));
    sandbox.awsDir = path.join(sandbox.home, ".aws");
    mkdirSync(sandbox.awsDir);
    process.env.HOME = sandbox.home;
    process.env.AWS_CONFIG_FILE = path.join(sandbox.awsDir, "config");
    process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(sandbox.awsDir, "credentials");
    process.env.AWS_EC2_METADATA_DISABLED = "true";
    // No bedrock-claude config file or ledger from the real home.
    process.env.BEDROCK_CLAUDE_HOME = path.join(sandbox.home, "bedrock-claude-home");
  });
  afterEach(async () => {
    for (const name of Object.keys(process.env)) {
      if ((ISOLATED_VARIABLES.test(name) || name === "HOME") && !(name in saved)) delete process.env[name];
    }
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await rm(sandbox.home, { recursive: true, force: true });
  });
  return {
    get home() {
      return sandbox.home;
    },
    get awsDir() {
      return sandbox.awsDir;
    },
    async writeAwsFiles(files) {
      if (files.config !== undefined) await writeFile(path.join(sandbox.awsDir, "config"), files.config);
      if (files.credentials !== undefined)
        await writeFile(path.join(sandbox.awsDir, "credentials"), files.credentials);
    },
  };
}

/** An AWS error answer as tests compare it: status, `x-amzn-ErrorType` before its `:`, body (JSON when it parses). */
export interface AwsAnswer {
  status: number;
  errorType: string | undefined;
  body: unknown;
}

export async function awsAnswer(res: Response): Promise<AwsAnswer> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // left as text: a comparison then shows what came back
  }
  return { status: res.status, errorType: res.headers.get("x-amzn-errortype")?.split(":")[0], body };
}

/** The rejection of a call, checked to be an instance of `type` when given; fails the test when the call succeeds. */
export async function rejection<E = unknown>(
  promise: Promise<unknown>,
  type?: abstract new (...args: never[]) => E,
): Promise<E> {
  try {
    await promise;
  } catch (error) {
    if (type) expect(error).toBeInstanceOf(type);
    return error as E;
  }
  throw new Error("expected the call to fail, and it succeeded");
}

/** An emulator identity whose account has been granted access to no model (SigV4 keys), and its Bedrock API key. */
export const NO_ACCESS = {
  name: "no-model-access",
  accessKeyId: "AKIANOMODELACCESS",
  secretAccessKey: "no-access-secret",
};
export const NO_ACCESS_API_KEY = "ABSKbm8tbW9kZWwtYWNjZXNz";

/** AWS credentials as the SDK clients and signedFetch take them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** The config of an official AWS client pointed at `endpoint`; `maxAttempts: 1` so errors surface at once. */
export function awsClientConfig(
  endpoint: string,
  options: { region?: string; credentials?: AwsCredentials } = {},
): { region: string; endpoint: string; credentials: AwsCredentials; maxAttempts: number } {
  return {
    region: options.region ?? "us-east-1",
    endpoint,
    credentials: options.credentials ?? TEST_CREDENTIALS,
    maxAttempts: 1,
  };
}

/** Keeps the clients the enclosing suite makes and destroys them after it; returns the client given. */
export function useClients(): <C extends { destroy(): void }>(client: C) => C {
  const clients: { destroy(): void }[] = [];
  afterAll(() => {
    for (const client of clients) client.destroy();
  });
  return (client) => {
    clients.push(client);
    return client;
  };
}

/** Polls `read` until `check` holds or `ms` pass, for what finishes asynchronously; the last value read. */
export async function eventually<T>(read: () => T, check: (value: T) => boolean, ms = 5_000): Promise<T> {
  const end = Date.now() + ms;
  let value = read();
  while (!check(value) && Date.now() < end) {
    await delay(10);
    value = read();
  }
  return value;
}
