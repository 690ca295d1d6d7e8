/**
 * STS GetCallerIdentity (query protocol: form body in, XML out), which needs no permission and
 * so tells the doctor whose credentials these are.
 */
import { authenticate } from "./auth.js";
import { EmulatorError } from "./errors.js";
import { type EmulatorContext, readIncoming } from "./http.js";
import type { EmulatorState } from "./state.js";

const NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/";

/** STS names the auth failures of the JSON services differently (its query-protocol codes). */
const STS_CODES: Record<string, string> = {
  UnrecognizedClientException: "InvalidClientTokenId",
  InvalidSignatureException: "SignatureDoesNotMatch",
  ExpiredTokenException: "ExpiredToken",
  IncompleteSignatureException: "IncompleteSignature",
  AccessDeniedException: "MissingAuthenticationToken",
};

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function xml(body: string, status: number, requestId: string): Response {
  return new Response(`<?xml version="1.0" encoding="UTF-8"?>\n${body}\n`, {
    status,
    headers: { "content-type": "text/xml", "x-amzn-requestid": requestId },
  });
}

export async function sts(c: EmulatorContext, state: EmulatorState): Promise<Response> {
  const requestId = state.nextRequestId();
  try {
    const req = await readIncoming(c, 1024 * 1024);
    const form = new URLSearchParams(
      req.rawQuery && c.req.method === "GET" ? req.rawQuery : Buffer.from(req.body).toString("utf8"),
    );
    const action = form.get("Action");
    if (action !== "GetCallerIdentity") {
      throw new EmulatorError(
        "ValidationException",
        action
          ? `Could not find operation ${action} for version ${form.get("Version") ?? "NO_VERSION_SPECIFIED"}`
          : "Missing Action",
      );
    }
    const principal = await authenticate(req, state, { services: ["sts"] });
    const { identity } = principal;
    return xml(
      `<GetCallerIdentityResponse xmlns="${NAMESPACE}">
  <GetCallerIdentityResult>
    <Arn>${escapeXml(identity.arn)}</Arn>
    <UserId>${escapeXml(identity.userId)}</UserId>
    <Account>${identity.account}</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata>
    <RequestId>${requestId}</RequestId>
  </ResponseMetadata>
</GetCallerIdentityResponse>`,
      200,
      requestId,
    );
  } catch (error) {
    const known =
      error instanceof EmulatorError ? error : new EmulatorError("InternalServerException", "Internal error");
    const code =
      known.exception === "ValidationException"
        ? "InvalidAction"
        : known.message === "Authorization header is missing"
          ? "MissingAuthenticationToken"
          : (STS_CODES[known.exception] ?? known.exception);
    const message =
      code === "MissingAuthenticationToken" ? "Request is missing Authentication Token" : known.message;
    return xml(
      `<ErrorResponse xmlns="${NAMESPACE}">
  <Error>
    <Type>Sender</Type>
    <Code>${code}</Code>
    <Message>${escapeXml(message)}</Message>
  </Error>
  <RequestId>${requestId}</RequestId>
</ErrorResponse>`,
      known.exception === "ValidationException" ? 400 : 403,
      requestId,
    );
  }
}
