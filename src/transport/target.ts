/**
 * A target: one provider in one region, with its endpoint and its way of authenticating. The
 * failover chain (next issue) is an ordered list of these.
 */
import { type CredentialsOption, credentialProvider } from "../aws/credentials.js";
import { RequestSigner } from "../aws/sign.js";
import type { Provider } from "../models/resolve.js";

export interface TargetOptions {
  provider?: Provider;
  region?: string;
  /**
   * Base URL of the service, without path: a VPC interface endpoint, a FIPS endpoint, the emulator.
   * Default: `https://bedrock-runtime.{region}.amazonaws.com`, `https://bedrock-mantle.{region}.api.aws`
   * or `https://api.anthropic.com`.
   */
  endpoint?: string;
  /** Control plane base URL (model discovery); default: the endpoint when one is given, else `bedrock.{region}`. */
  controlPlaneEndpoint?: string;
  /** On `bedrock`: InvokeModel (default: what most accounts, policies and models use) or the native Messages API. */
  bedrockApi?: "invoke" | "messages";
  /** AWS credentials: static keys or a provider function. Default: the standard AWS chain. */
  credentials?: CredentialsOption;
  /** A profile of the shared AWS config files. */
  profile?: string;
  /** A Bedrock API key (Bedrock providers) or the Anthropic API key (`anthropic`). */
  apiKey?: string;
  /** Preferred inference profile geography (`us`, `eu`, `global`, ... or `in-region`). */
  geography?: string;
  /** A name for logs and headers; default `{provider} {region}`. */
  name?: string;
}

export type TargetAuth =
  | { kind: "sigv4"; signer: RequestSigner; runtimeSigner: RequestSigner }
  | { kind: "bearer"; token: string }
  | { kind: "x-api-key"; key: string | undefined };

export interface Target {
  name: string;
  provider: Provider;
  region: string;
  /** Base URL of the messages endpoint's host, no trailing slash. */
  baseUrl: string;
  /** bedrock-runtime base URL (CountTokens for Mantle, which has none). */
  runtimeUrl: string;
  controlPlaneUrl: string;
  bedrockApi: "invoke" | "messages";
  geography?: string;
  auth: TargetAuth;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

/** Builds a target from options and the environment (AWS and Anthropic conventions). */
export function createTarget(options: TargetOptions & { region: string }, env = process.env): Target {
  const provider = options.provider ?? "bedrock";
  const { region } = options;
  const runtimeDefault =
    env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME ??
    env.AWS_ENDPOINT_URL ??
    `https://bedrock-runtime.${region}.amazonaws.com`;
  let baseUrl: string;
  if (provider === "anthropic")
    baseUrl = options.endpoint ?? env.ANTHROPIC_BASE_URL ?? "https://api.anthropic.com";
  else if (provider === "bedrock-mantle") {
    baseUrl =
      options.endpoint ??
      env.ANTHROPIC_BEDROCK_MANTLE_BASE_URL?.replace(/\/anthropic\/?$/, "") ??
      `https://bedrock-mantle.${region}.api.aws`;
  } else baseUrl = options.endpoint ?? runtimeDefault;
  const runtimeUrl = provider === "bedrock-mantle" ? (options.endpoint ?? runtimeDefault) : baseUrl;
  const controlPlaneUrl =
    options.controlPlaneEndpoint ??
    options.endpoint ??
    env.AWS_ENDPOINT_URL_BEDROCK ??
    env.AWS_ENDPOINT_URL ??
    `https://bedrock.${region}.amazonaws.com`;

  let auth: TargetAuth;
  if (provider === "anthropic") {
    auth = { kind: "x-api-key", key: options.apiKey ?? env.ANTHROPIC_API_KEY };
  } else {
    const token = options.apiKey ?? env.AWS_BEARER_TOKEN_BEDROCK;
    if (token) auth = { kind: "bearer", token };
    else {
      const credentials = credentialProvider({ credentials: options.credentials, profile: options.profile });
      auth = {
        kind: "sigv4",
        signer: new RequestSigner(
          provider === "bedrock-mantle" ? "bedrock-mantle" : "bedrock",
          region,
          credentials,
        ),
        runtimeSigner: new RequestSigner("bedrock", region, credentials),
      };
    }
  }
  return {
    name: options.name ?? (provider === "anthropic" ? "anthropic" : `${provider} ${region}`),
    provider,
    region,
    baseUrl: trimSlash(baseUrl),
    runtimeUrl: trimSlash(runtimeUrl),
    controlPlaneUrl: trimSlash(controlPlaneUrl),
    bedrockApi: options.bedrockApi ?? "invoke",
    geography: options.geography,
    auth,
  };
}
