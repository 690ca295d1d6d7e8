/**
 * Who is calling the gateway. A virtual key arrives as `x-api-key`, as `Authorization: Bearer`
 * (the Anthropic SDKs, and Bedrock API keys), or as a SigV4 signature made with the key's pair
 * (the AWS SDKs, boto3), verified by the same verifier as the emulator's. With no keys created,
 * on loopback, the gateway runs open: any key or none is accepted and recorded as `anonymous`.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { type IncomingSignedRequest, isSigV4, verifySigV4 } from "../aws/sigv4-verify.js";
import type { BedrockExceptionName } from "../bedrock/exceptions.js";
import type { KeyStore, VirtualKey } from "./keys.js";

/** The name open-mode requests are recorded under. */
export const ANONYMOUS = "anonymous";

export type Caller =
  | { ok: true; key: VirtualKey | null; name: string; admin: boolean }
  | {
      ok: false;
      status: 401 | 403;
      message: string;
      /** For a SigV4 refusal: the exception AWS names (InvalidSignatureException, UnrecognizedClientException...). */
      exception?: BedrockExceptionName;
    };

/** Signing names a gateway accepts: what the Bedrock runtime and Mantle clients sign with. */
const SERVICES = ["bedrock", "bedrock-mantle"] as const;

export interface AuthContext {
  keys: KeyStore;
  /** Open mode: no key is required (no keys exist, loopback, or --insecure-no-auth). */
  open: () => boolean;
  /** SHA-256 of the static admin key, when one is configured. */
  adminKeyHash: Buffer | null;
}

export function hashAdminKey(key: string): Buffer {
  return createHash("sha256").update(key).digest();
}

function presentedToken(headers: Record<string, string>): string | undefined {
  const apiKey = headers["x-api-key"];
  if (apiKey) return apiKey.trim();
  const authorization = headers.authorization;
  if (authorization && /^bearer\s/i.test(authorization)) return authorization.slice(7).trim();
  return undefined;
}

function isAdminKey(ctx: AuthContext, token: string): boolean {
  if (!ctx.adminKeyHash) return false;
  return timingSafeEqual(hashAdminKey(token), ctx.adminKeyHash);
}

const openCaller = (admin: boolean): Caller => ({ ok: true, key: null, name: ANONYMOUS, admin });

/** Authenticates a request; the body is needed for SigV4 (its hash is signed). */
export async function authenticate(ctx: AuthContext, request: IncomingSignedRequest): Promise<Caller> {
  const { headers } = request;
  const open = ctx.open();
  if (isSigV4(headers.authorization)) {
    if (open) return openCaller(true);
    const result = await verifySigV4(request, {
      services: SERVICES,
      lookup: (accessKeyId) => {
        const found = ctx.keys.signingSecret(accessKeyId);
        return found ? { secretAccessKey: found.secretAccessKey } : undefined;
      },
    });
    if (!result.ok) return { ok: false, status: 403, message: result.message, exception: result.exception };
    const key = ctx.keys.signingSecret(result.accessKeyId)!.key;
    return { ok: true, key, name: key.name, admin: key.admin };
  }
  const token = presentedToken(headers);
  if (open) return openCaller(true);
  if (!token) {
    return {
      ok: false,
      status: 401,
      message: "This gateway needs a virtual key: send it as x-api-key or Authorization: Bearer.",
    };
  }
  if (isAdminKey(ctx, token)) return { ok: true, key: null, name: "admin", admin: true };
  const key = ctx.keys.verifyToken(token);
  if (!key) return { ok: false, status: 401, message: "invalid x-api-key" };
  return { ok: true, key, name: key.name, admin: key.admin };
}
