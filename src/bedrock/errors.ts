/**
 * Bedrock errors in the Anthropic API's words: one table from AWS exception names to the error
 * type and status the Anthropic API would answer with, so the official SDK raises its own classes
 * (RateLimitError, PermissionDeniedError, NotFoundError, BadRequestError, InternalServerError...).
 */
import { ANTHROPIC_ERROR_STATUS, type AnthropicErrorType, anthropicErrorBody } from "../anthropic/errors.js";

const TYPE_BY_EXCEPTION: Record<string, AnthropicErrorType> = {
  ValidationException: "invalid_request_error",
  AccessDeniedException: "permission_error",
  UnrecognizedClientException: "authentication_error",
  InvalidSignatureException: "authentication_error",
  ExpiredTokenException: "authentication_error",
  IncompleteSignatureException: "authentication_error",
  MissingAuthenticationTokenException: "authentication_error",
  ResourceNotFoundException: "not_found_error",
  ThrottlingException: "rate_limit_error",
  ServiceQuotaExceededException: "rate_limit_error",
  ModelNotReadyException: "rate_limit_error",
  ModelTimeoutException: "timeout_error",
  ModelErrorException: "api_error",
  ModelStreamErrorException: "api_error",
  InternalServerException: "api_error",
  ServiceUnavailableException: "overloaded_error",
  RequestEntityTooLargeException: "request_too_large",
};

const TYPE_BY_STATUS: Record<number, AnthropicErrorType> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  408: "timeout_error",
  413: "request_too_large",
  429: "rate_limit_error",
  503: "overloaded_error",
  529: "overloaded_error",
};

/** What an AWS error response or exception frame says. */
export interface AwsErrorFacts {
  /** Exception name (`ThrottlingException`), from `x-amzn-ErrorType` or the frame header. */
  name: string | undefined;
  message: string;
  status: number;
  requestId: string | undefined;
}

/** `ThrottlingException:http://internal.amazon.com/...` or `aws.protocols#ThrottlingException` -> name. */
export function errorNameFromHeader(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const beforeColon = header.split(":")[0]!;
  const afterHash = beforeColon.includes("#") ? beforeColon.slice(beforeColon.indexOf("#") + 1) : beforeColon;
  return afterHash || undefined;
}

/** Reads an AWS restJson1 error body (`message` or `Message`, sometimes `__type`). */
export function parseAwsErrorBody(text: string): { name?: string; message?: string } {
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    const message = json.message ?? json.Message;
    const type = typeof json.__type === "string" ? errorNameFromHeader(json.__type) : undefined;
    // Some Bedrock models answer in Anthropic's own envelope (e.g. `invalid beta flag` on newer models).
    const nested = json.error as { message?: unknown } | undefined;
    return {
      name: type,
      message:
        typeof message === "string"
          ? message
          : typeof nested?.message === "string"
            ? nested.message
            : undefined,
    };
  } catch {
    return { message: text.trim() || undefined };
  }
}

export function anthropicTypeForAws(facts: Pick<AwsErrorFacts, "name" | "status">): AnthropicErrorType {
  return (
    (facts.name && TYPE_BY_EXCEPTION[facts.name]) ||
    TYPE_BY_STATUS[facts.status] ||
    (facts.status >= 500 ? "api_error" : "invalid_request_error")
  );
}

/** The message the caller reads: AWS's words, then which exception and which request. */
export function describeAwsError(facts: AwsErrorFacts): string {
  const where = [facts.name && `Bedrock ${facts.name}`, facts.requestId && `request id ${facts.requestId}`]
    .filter(Boolean)
    .join(", ");
  return where ? `${facts.message} (${where})` : facts.message;
}

/** An Anthropic-shaped error Response for an AWS error, keeping the AWS name and request id in headers. */
export function anthropicResponseForAws(facts: AwsErrorFacts): Response {
  const type = anthropicTypeForAws(facts);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (facts.requestId) {
    headers["request-id"] = facts.requestId;
    headers["x-amzn-requestid"] = facts.requestId;
  }
  if (facts.name) headers["x-amzn-errortype"] = facts.name;
  return new Response(JSON.stringify(anthropicErrorBody(type, describeAwsError(facts), facts.requestId)), {
    status: ANTHROPIC_ERROR_STATUS[type],
    headers,
  });
}
