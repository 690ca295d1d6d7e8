/** Responses the transport makes itself, and the adaptation of upstream error answers. */
import { ANTHROPIC_ERROR_STATUS, type AnthropicErrorType, anthropicErrorBody } from "../anthropic/errors.js";
import { anthropicResponseForAws, errorNameFromHeader, parseAwsErrorBody } from "../bedrock/errors.js";

export function errorResponse(
  type: AnthropicErrorType,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(anthropicErrorBody(type, message)), {
    status: ANTHROPIC_ERROR_STATUS[type],
    headers: { "content-type": "application/json", ...headers },
  });
}

export function jsonResponse(body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * An error answer from a Bedrock endpoint, as the Anthropic API would give it. Anthropic-native
 * endpoints (and newer models on InvokeModel) may already answer in Anthropic's envelope: that is
 * kept, with the AWS request id added.
 */
export function adaptBedrockError(
  upstream: Response,
  text: string,
  headers: Record<string, string>,
): Response {
  // Keep the server's wait, if it gave one, for the attempt loop.
  const extraHeaders = { ...headers };
  for (const name of ["retry-after", "retry-after-ms"]) {
    const value = upstream.headers.get(name);
    if (value !== null) extraHeaders[name] = value;
  }
  const requestId =
    upstream.headers.get("x-amzn-requestid") ?? upstream.headers.get("request-id") ?? undefined;
  const name = errorNameFromHeader(upstream.headers.get("x-amzn-errortype"));
  try {
    const json = JSON.parse(text) as { type?: string; error?: { type?: string } };
    if (json.type === "error" && json.error?.type) {
      return new Response(text, {
        status: upstream.status,
        headers: {
          "content-type": "application/json",
          ...(requestId ? { "request-id": requestId, "x-amzn-requestid": requestId } : {}),
          ...(name ? { "x-amzn-errortype": name } : {}),
          ...extraHeaders,
        },
      });
    }
  } catch {
    // not JSON: an AWS or proxy error page
  }
  const parsed = parseAwsErrorBody(text);
  const response = anthropicResponseForAws({
    name: name ?? parsed.name,
    message: parsed.message ?? `HTTP ${upstream.status} from Bedrock`,
    status: upstream.status,
    requestId,
  });
  for (const [k, v] of Object.entries(extraHeaders)) response.headers.set(k, v);
  return response;
}

/** The message of an upstream error, for the compatibility policy to learn from. */
export function errorMessageOf(text: string): string {
  const parsed = parseAwsErrorBody(text);
  return parsed.message ?? text;
}
