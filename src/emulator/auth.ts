/**
 * Who is calling: SigV4 (verified as AWS does) or a Bedrock API key as `Authorization: Bearer`.
 * Failures are worded as AWS's front door words them (captured answers: docs/emulator.md).
 */
import { type IncomingSignedRequest, isSigV4, verifySigV4 } from "../aws/sigv4-verify.js";
import { EmulatorError } from "./errors.js";
import { regionFromHost } from "./http.js";
import { type Identity, isExpired } from "./identities.js";
import type { EmulatorState } from "./state.js";

export interface Principal {
  identity: Identity;
  region: string;
  via: "sigv4" | "api-key";
}

export interface AuthOptions {
  /** Signing names accepted here. */
  services: readonly string[];
  /** Status for auth failures: 403 on AWS's JSON endpoints, 401 on Mantle. */
  status?: number;
}

const SHORT_TERM_PREFIX = "bedrock-api-key-";
const LONG_TERM_PREFIX = "ABSK";
const INVALID_KEY = "Authentication failed: Please make sure your API Key is valid.";

function frontDoor(message: string, status?: number): EmulatorError {
  return new EmulatorError("AccessDeniedException", message, { frontDoor: true, status });
}

/**
 * A short-term key is `bedrock-api-key-` + base64 of a presigned `CallWithBearerToken` URL: the
 * access key, region and expiry are read from its query. (Its presigned signature is not checked.)
 */
function shortTermKey(key: string, state: EmulatorState): { identity: Identity; region: string } | undefined {
  let url: URL;
  try {
    const decoded = Buffer.from(key.slice(SHORT_TERM_PREFIX.length), "base64").toString("utf8");
    url = new URL(decoded.startsWith("http") ? decoded : `https://${decoded}`);
  } catch {
    return undefined;
  }
  const [accessKeyId, , region] = (url.searchParams.get("X-Amz-Credential") ?? "").split("/");
  const date = url.searchParams.get("X-Amz-Date") ?? "";
  const expires = Number(url.searchParams.get("X-Amz-Expires") ?? "0");
  const identity = accessKeyId ? state.identities.byAccessKeyId(accessKeyId) : undefined;
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date);
  if (!identity || !region || !m) return undefined;
  const signedAt = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  if (signedAt + expires * 1000 <= state.now()) return undefined;
  return { identity, region };
}

function bearer(req: IncomingSignedRequest, key: string, state: EmulatorState, status?: number): Principal {
  const now = new Date(state.now());
  if (key.startsWith(SHORT_TERM_PREFIX)) {
    const found = shortTermKey(key, state);
    if (!found) throw frontDoor(INVALID_KEY, status);
    return { ...found, via: "api-key" };
  }
  if (!key.startsWith(LONG_TERM_PREFIX))
    throw frontDoor("Invalid API Key format: Must start with pre-defined prefix", status);
  const grant = state.identities.byApiKey(key);
  if (!grant || isExpired(grant.expiresAt, now)) throw frontDoor(INVALID_KEY, status);
  const region = grant.region ?? regionFromHost(req.headers.host) ?? state.config.defaultRegion;
  return { identity: grant.identity, region, via: "api-key" };
}

export async function authenticate(
  req: IncomingSignedRequest,
  state: EmulatorState,
  options: AuthOptions,
): Promise<Principal> {
  const authorization = req.headers.authorization;
  if (!authorization) throw frontDoor("Authorization header is missing", options.status);
  if (/^Bearer\s/i.test(authorization)) {
    return bearer(req, authorization.replace(/^Bearer\s+/i, "").trim(), state, options.status);
  }
  if (!isSigV4(authorization)) {
    throw frontDoor("Invalid API Key format: Must start with pre-defined prefix", options.status);
  }
  const result = await verifySigV4(req, {
    services: options.services,
    now: new Date(state.now()),
    lookup: (accessKeyId) => state.identities.byAccessKeyId(accessKeyId),
  });
  if (!result.ok) throw new EmulatorError(result.exception, result.message, { status: options.status });
  const identity = state.identities.byAccessKeyId(result.accessKeyId)!;
  if (isExpired(identity.expiresAt, new Date(state.now()))) {
    throw new EmulatorError(
      "ExpiredTokenException",
      "The security token included in the request is expired",
      {
        status: options.status,
      },
    );
  }
  return { identity, region: result.region, via: "sigv4" };
}
