/**
 * The emulator's HTTP plumbing: the request as it arrived (raw path for SigV4), and errors
 * written in the shape of the endpoint they happen on.
 */
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import type { Context } from "hono";
import { ANTHROPIC_ERROR_STATUS, anthropicErrorBody } from "../anthropic/errors.js";
import type { IncomingSignedRequest } from "../aws/sigv4-verify.js";
import { anthropicTypeFor, EmulatorError } from "./errors.js";

export interface NodeBindings {
  incoming: IncomingMessage | Http2ServerRequest;
  outgoing: unknown;
}

export type EmulatorContext = Context<{ Bindings: NodeBindings }>;

const BEDROCK_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/";
const CORAL_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.coral.service/";

/** The request as it came off the wire: the raw target (not re-encoded), lower-case headers, body. */
export async function readIncoming(
  c: EmulatorContext,
  maxBytes: number,
  tooLarge: (maxBytes: number) => EmulatorError = bodyTooLarge,
): Promise<IncomingSignedRequest> {
  const target = c.env.incoming.url ?? "/";
  const q = target.indexOf("?");
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(c.env.incoming.headers)) {
    if (value === undefined) continue;
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(",") : String(value);
  }
  // HTTP/2 carries the host as :authority.
  if (!headers.host && headers[":authority"]) headers.host = headers[":authority"];
  const declared = Number(headers["content-length"] ?? "0");
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const body = new Uint8Array(await c.req.arrayBuffer());
  if (body.byteLength > maxBytes) throw tooLarge(maxBytes);
  return {
    method: c.req.method,
    rawPath: q < 0 ? target : target.slice(0, q),
    rawQuery: q < 0 ? "" : target.slice(q + 1),
    headers,
    body,
  };
}

export function bodyTooLarge(maxBytes: number): EmulatorError {
  return new EmulatorError(
    "ValidationException",
    `1 validation error detected: Value at 'body' failed to satisfy constraint: Member must have length less than or equal to ${maxBytes}`,
  );
}

function hintHeaders(error: EmulatorError): Record<string, string> {
  return error.hint ? { "x-emulator-hint": error.hint } : {};
}

/** An AWS restJson1 error: `x-amzn-ErrorType`, `{"message": ...}`, `x-amzn-RequestId`. */
export function awsErrorResponse(error: EmulatorError, requestId: string): Response {
  const namespace = error.isAuthLayer ? CORAL_NAMESPACE : BEDROCK_NAMESPACE;
  const body = { [error.frontDoor ? "Message" : "message"]: error.message, ...error.extra };
  return new Response(JSON.stringify(body), {
    status: error.status,
    headers: {
      "content-type": "application/json",
      "x-amzn-requestid": requestId,
      "x-amzn-errortype": `${error.exception}:${namespace}`,
      ...hintHeaders(error),
    },
  });
}

/**
 * An error on an Anthropic-native endpoint: the Anthropic envelope, with the status of its type;
 * the AWS exception name stays visible in `x-amzn-ErrorType`.
 */
export function anthropicErrorResponse(
  error: EmulatorError,
  requestId: string,
  awsHeaders: boolean,
): Response {
  const type = anthropicTypeFor(error);
  return new Response(JSON.stringify(anthropicErrorBody(type, error.message, requestId)), {
    status: ANTHROPIC_ERROR_STATUS[type],
    headers: {
      "content-type": "application/json",
      "request-id": requestId,
      ...(awsHeaders ? { "x-amzn-requestid": requestId, "x-amzn-errortype": error.exception } : {}),
      ...hintHeaders(error),
    },
  });
}

export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

const REGION = /^[a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d$/;

/** `bedrock-runtime.us-west-2.amazonaws.com` or `bedrock-mantle.eu-west-1.localhost:4010` -> region. */
export function regionFromHost(host: string | undefined): string | undefined {
  if (!host) return undefined;
  return host
    .replace(/:\d+$/, "")
    .split(".")
    .find((label) => REGION.test(label));
}
