/**
 * Verifies AWS Signature Version 4 on an incoming request, as AWS's front door does.
 *
 * The expected signature is computed by `@smithy/signature-v4`, the signer the AWS SDK and the
 * Anthropic SDKs sign with, fed the request exactly as it arrived: the raw path (which it
 * URI-encodes once more, the non-S3 rule, so both `:` and `%3A` spellings verify), the query,
 * and only the headers the client listed in `SignedHeaders`. One verifier for the emulator and
 * the gateway.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { Hash } from "@smithy/hash-node";
import { getCanonicalHeaders, getPayloadHash, SignatureV4 } from "@smithy/signature-v4";
import type { HttpRequest } from "@smithy/types";
import type { BedrockExceptionName } from "../bedrock/exceptions.js";

export interface IncomingSignedRequest {
  method: string;
  /** The path as it arrived, still percent-encoded. */
  rawPath: string;
  /** The query string as it arrived, without `?`. */
  rawQuery: string;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: Uint8Array;
}

export interface SigningSecret {
  secretAccessKey: string;
  /** Present for temporary credentials: the request must carry the same `X-Amz-Security-Token`. */
  sessionToken?: string;
}

export interface SigV4VerifyOptions {
  /** Signing names accepted on this endpoint (`bedrock`, `bedrock-mantle`, `sts`). */
  services: readonly string[];
  /** The secret for an access key id, or undefined when the key is unknown. */
  lookup: (accessKeyId: string) => SigningSecret | undefined;
  now?: Date;
  /** AWS allows 5 minutes of clock skew. */
  maxSkewMs?: number;
}

export type SigV4Result =
  | { ok: true; accessKeyId: string; region: string; service: string; signingDate: Date }
  | { ok: false; exception: BedrockExceptionName; message: string; accessKeyId?: string };

const ALGORITHM = "AWS4-HMAC-SHA256";
const FIVE_MINUTES = 5 * 60_000;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const MISMATCH =
  "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/** Parses `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`. */
export function parseAuthorization(
  header: string,
): { credential: string; signedHeaders: string[]; signature: string } | { missing: string[] } {
  const rest = header.slice(ALGORITHM.length).trim();
  const fields = new Map<string, string>();
  for (const part of rest.split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const missing = ["Credential", "Signature", "SignedHeaders"].filter((name) => !fields.get(name));
  if (missing.length > 0) return { missing };
  return {
    credential: fields.get("Credential")!,
    signedHeaders: fields.get("SignedHeaders")!.split(";"),
    signature: fields.get("Signature")!,
  };
}

function parseAmzDate(value: string): Date | undefined {
  const m = AMZ_DATE.exec(value);
  if (!m) return undefined;
  const date = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function amzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

function parseQuery(rawQuery: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  if (!rawQuery) return query;
  for (const pair of rawQuery.split("&")) {
    if (!pair) continue;
    const eq = pair.indexOf("=");
    const decode = (s: string) => {
      try {
        return decodeURIComponent(s.replace(/\+/g, " "));
      } catch {
        return s;
      }
    };
    const key = decode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? "" : decode(pair.slice(eq + 1));
    const existing = query[key];
    if (existing === undefined) query[key] = value;
    else query[key] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return query;
}

function sha256Hex(body: Uint8Array): string {
  return createHash("sha256").update(body).digest("hex");
}

function sameHex(a: string, b: string): boolean {
  const left = Buffer.from(a, "utf8");
  const right = Buffer.from(b, "utf8");
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * The signer, with the two steps AWS shows in its mismatch message exposed. `applyChecksum: false`:
 * the verifier signs exactly the headers the client signed, and botocore signs no
 * `x-amz-content-sha256`.
 */
class VerifyingSigner extends SignatureV4 {
  constructor(
    service: string,
    region: string,
    accessKeyId: string,
    secret: SigningSecret,
    withToken: boolean,
  ) {
    super({
      service,
      region,
      applyChecksum: false,
      sha256: Hash.bind(null, "sha256"),
      credentials: {
        accessKeyId,
        secretAccessKey: secret.secretAccessKey,
        ...(withToken && secret.sessionToken ? { sessionToken: secret.sessionToken } : {}),
      },
    });
  }

  /** The canonical request and string to sign, as AWS prints them when a signature does not match. */
  async explain(
    request: HttpRequest,
    signingDate: Date,
    signedHeaders: string[],
    scope: string,
  ): Promise<string> {
    const { longDate } = this.formatDate(signingDate);
    const payloadHash = await getPayloadHash(request, this.sha256);
    const canonical = this.createCanonicalRequest(
      request,
      getCanonicalHeaders(request, undefined, new Set(signedHeaders)),
      payloadHash,
    );
    const stringToSign = await this.createStringToSign(longDate, scope, canonical, ALGORITHM);
    return `\n\nThe Canonical String for this request should have been\n'${canonical}'\n\nThe String-to-Sign should have been\n'${stringToSign}'\n`;
  }
}

function requestToSign(req: IncomingSignedRequest, signedHeaders: string[], host: string): HttpRequest {
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) headers[name] = name === "host" ? host : (req.headers[name] ?? "");
  return {
    method: req.method,
    protocol: "http:",
    hostname: host,
    path: req.rawPath,
    query: parseQuery(req.rawQuery),
    headers,
    body: req.body,
  };
}

async function signatureOf(
  signer: VerifyingSigner,
  request: HttpRequest,
  signedHeaders: string[],
  signingDate: Date,
) {
  const signed = await signer.sign(request, { signingDate, signableHeaders: new Set(signedHeaders) });
  const authorization = String(signed.headers.authorization ?? signed.headers.Authorization ?? "");
  // The signer always signs x-amz-date: a client list without it can never match.
  const covered = /SignedHeaders=([^,\s]+)/.exec(authorization)?.[1];
  if (covered !== signedHeaders.join(";")) return "";
  return /Signature=([0-9a-f]+)/.exec(authorization)?.[1] ?? "";
}

/** Verifies the request's SigV4 `Authorization` header. */
export async function verifySigV4(
  req: IncomingSignedRequest,
  options: SigV4VerifyOptions,
): Promise<SigV4Result> {
  const authorization = req.headers.authorization ?? "";
  const parsed = parseAuthorization(authorization);
  if ("missing" in parsed) {
    return {
      ok: false,
      exception: "IncompleteSignatureException",
      message: `${parsed.missing.map((name) => `Authorization header requires '${name}' parameter.`).join(" ")} Authorization=${authorization}`,
    };
  }
  const scope = parsed.credential.split("/");
  if (scope.length !== 5 || scope[4] !== "aws4_request") {
    return {
      ok: false,
      exception: "IncompleteSignatureException",
      message: `Credential should be scoped to a valid region, not '${scope[2] ?? ""}'. `,
    };
  }
  const [accessKeyId, scopeDate, region, service] = scope as [string, string, string, string, string];
  if (!options.services.includes(service)) {
    return {
      ok: false,
      exception: "InvalidSignatureException",
      message: `Credential should be scoped to correct service: '${options.services[0]}'. `,
      accessKeyId,
    };
  }
  if (!/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/.test(region)) {
    return {
      ok: false,
      exception: "InvalidSignatureException",
      message: `Credential should be scoped to a valid region. `,
      accessKeyId,
    };
  }
  const secret = options.lookup(accessKeyId);
  if (!secret) {
    return {
      ok: false,
      exception: "UnrecognizedClientException",
      message: "The security token included in the request is invalid.",
      accessKeyId,
    };
  }
  const token = req.headers["x-amz-security-token"];
  // A session token must come with temporary credentials, and only with them.
  if (token !== secret.sessionToken) {
    return {
      ok: false,
      exception: "UnrecognizedClientException",
      message: "The security token included in the request is invalid.",
      accessKeyId,
    };
  }
  const dateHeader = req.headers["x-amz-date"];
  const signingDate = dateHeader ? parseAmzDate(dateHeader) : undefined;
  if (!signingDate) {
    return {
      ok: false,
      exception: "IncompleteSignatureException",
      message: `Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=${authorization}`,
      accessKeyId,
    };
  }
  if (scopeDate !== dateHeader!.slice(0, 8)) {
    return {
      ok: false,
      exception: "InvalidSignatureException",
      message: `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${dateHeader!.slice(0, 8)}', from '${dateHeader}'.`,
      accessKeyId,
    };
  }
  const now = options.now ?? new Date();
  const skew = options.maxSkewMs ?? FIVE_MINUTES;
  if (signingDate.getTime() < now.getTime() - skew) {
    return {
      ok: false,
      exception: "InvalidSignatureException",
      message: `Signature expired: ${dateHeader} is now earlier than ${amzDate(new Date(now.getTime() - skew))} (${amzDate(now)} - 5 min.)`,
      accessKeyId,
    };
  }
  if (signingDate.getTime() > now.getTime() + skew) {
    return {
      ok: false,
      exception: "InvalidSignatureException",
      message: `Signature not yet current: ${dateHeader} is still later than ${amzDate(new Date(now.getTime() + skew))} (${amzDate(now)} + 5 min.)`,
      accessKeyId,
    };
  }
  // The signer trusts a present x-amz-content-sha256 instead of hashing the body, so a tampered
  // body would verify: check the declared hash against the body that arrived.
  const declaredHash = req.headers["x-amz-content-sha256"];
  if (declaredHash && declaredHash !== "UNSIGNED-PAYLOAD" && declaredHash !== sha256Hex(req.body)) {
    return { ok: false, exception: "InvalidSignatureException", message: MISMATCH, accessKeyId };
  }
  const host = req.headers.host ?? "";
  // Some clients sign the host without its port even when the endpoint has one; accept either.
  const hosts = [host];
  const withoutPort = host.replace(/:\d+$/, "");
  if (withoutPort !== host) hosts.push(withoutPort);
  const withToken = parsed.signedHeaders.includes("x-amz-security-token");
  const signer = new VerifyingSigner(service, region, accessKeyId, secret, withToken);
  for (const candidate of hosts) {
    const request = requestToSign(req, parsed.signedHeaders, candidate);
    const expected = await signatureOf(signer, request, parsed.signedHeaders, signingDate);
    if (sameHex(expected, parsed.signature)) return { ok: true, accessKeyId, region, service, signingDate };
  }
  // As AWS does, show what the signature should have covered (for the host as sent).
  const credentialScope = `${scopeDate}/${region}/${service}/aws4_request`;
  const request = requestToSign(req, parsed.signedHeaders, host);
  request.headers["x-amz-date"] = dateHeader!;
  const detail = await signer.explain(request, signingDate, parsed.signedHeaders, credentialScope);
  return { ok: false, exception: "InvalidSignatureException", message: MISMATCH + detail, accessKeyId };
}

/** True when the request carries SigV4 (as opposed to a Bearer key or nothing). */
export function isSigV4(authorization: string | undefined): boolean {
  return authorization?.startsWith(ALGORITHM) ?? false;
}
