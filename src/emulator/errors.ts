/**
 * Errors the emulator answers with. An `EmulatorError` names an AWS exception; how it is written
 * depends on the endpoint it happens on (AWS restJson1 or query XML, or Anthropic JSON): see
 * `responses.ts`.
 */
import type { AnthropicErrorType } from "../anthropic/errors.js";
import {
  AUTH_LAYER_EXCEPTIONS,
  BEDROCK_EXCEPTION_STATUS,
  type BedrockExceptionName,
} from "../bedrock/exceptions.js";

export interface EmulatorErrorOptions {
  /** Extra members of the error body (e.g. `originalStatusCode` of ModelStreamErrorException). */
  extra?: Record<string, unknown>;
  /**
   * Raised by AWS's front door (IAM, API keys) rather than by Bedrock: its body says `Message`
   * with a capital M and its error type names the coral service namespace (captured answers).
   */
  frontDoor?: boolean;
  /** Said in the `x-emulator-hint` header, never in the body: what the real service leaves unsaid. */
  hint?: string;
  /** Overrides the status of the exception (Mantle answers auth failures with 401). */
  status?: number;
}

export class EmulatorError extends Error {
  override readonly name = "EmulatorError";
  readonly status: number;
  readonly extra: Record<string, unknown>;
  readonly frontDoor: boolean;
  readonly hint: string | undefined;
  constructor(
    readonly exception: BedrockExceptionName,
    message: string,
    options: EmulatorErrorOptions = {},
  ) {
    super(message);
    this.status = options.status ?? BEDROCK_EXCEPTION_STATUS[exception];
    this.extra = options.extra ?? {};
    this.frontDoor = options.frontDoor ?? false;
    this.hint = options.hint;
  }

  get isAuthLayer(): boolean {
    return this.frontDoor || AUTH_LAYER_EXCEPTIONS.has(this.exception);
  }
}

/**
 * The Anthropic error type the Anthropic-native endpoints use for an exception, chosen by status
 * as the Anthropic API would say it (auth-layer 403s are authentication failures there).
 */
export function anthropicTypeFor(error: EmulatorError): AnthropicErrorType {
  if (error.isAuthLayer) return "authentication_error";
  switch (error.status) {
    case 400:
      return "invalid_request_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 408:
      return "timeout_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
      return "overloaded_error";
    default:
      return "api_error";
  }
}

/** Throws the ValidationException Bedrock uses for malformed Anthropic bodies. */
export function malformed(detail: string): EmulatorError {
  return new EmulatorError(
    "ValidationException",
    `Malformed input request: ${detail}, please reformat your input and try again.`,
  );
}
