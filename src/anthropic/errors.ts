/**
 * The Anthropic API's error wire shape: `{"type":"error","error":{"type":...,"message":...},"request_id":...}`
 * with a fixed status per error type (docs: "Errors", platform.claude.com).
 */
export const ANTHROPIC_ERROR_STATUS = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
} as const;

export type AnthropicErrorType = keyof typeof ANTHROPIC_ERROR_STATUS;

export interface AnthropicErrorBody {
  type: "error";
  error: { type: AnthropicErrorType; message: string };
  request_id?: string;
}

export function anthropicErrorBody(
  type: AnthropicErrorType,
  message: string,
  requestId?: string,
): AnthropicErrorBody {
  const body: AnthropicErrorBody = { type: "error", error: { type, message } };
  if (requestId) body.request_id = requestId;
  return body;
}
