/**
 * Shared test helpers: an emulator on a free port, and a SigV4 signer for hand-made requests
 * (the same `@smithy/signature-v4` the AWS SDK signs with) for cases no official client sends.
 */
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, beforeAll } from "vitest";
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
