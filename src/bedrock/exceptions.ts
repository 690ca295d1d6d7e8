/**
 * Bedrock's exceptions and the HTTP status each travels with (restJson1; the AWS service models
 * for bedrock-runtime and bedrock, and the auth layer in front of every AWS JSON service).
 * One table for the emulator, which raises them, and the transport, which maps them.
 */
export const BEDROCK_EXCEPTION_STATUS = {
  ValidationException: 400,
  ServiceQuotaExceededException: 400,
  IncompleteSignatureException: 400,
  AccessDeniedException: 403,
  UnrecognizedClientException: 403,
  InvalidSignatureException: 403,
  ExpiredTokenException: 403,
  MissingAuthenticationTokenException: 403,
  ResourceNotFoundException: 404,
  UnknownOperationException: 404,
  ModelTimeoutException: 408,
  ConflictException: 409,
  RequestEntityTooLargeException: 413,
  ModelErrorException: 424,
  ModelStreamErrorException: 424,
  ThrottlingException: 429,
  ModelNotReadyException: 429,
  InternalServerException: 500,
  ServiceUnavailableException: 503,
} as const;

export type BedrockExceptionName = keyof typeof BEDROCK_EXCEPTION_STATUS;

/** Exceptions raised by AWS's authentication layer rather than by Bedrock itself. */
export const AUTH_LAYER_EXCEPTIONS: ReadonlySet<BedrockExceptionName> = new Set([
  "IncompleteSignatureException",
  "UnrecognizedClientException",
  "InvalidSignatureException",
  "ExpiredTokenException",
  "MissingAuthenticationTokenException",
]);

/** Exceptions that may arrive as frames inside an InvokeModelWithResponseStream body. */
export const STREAM_EXCEPTIONS: ReadonlySet<BedrockExceptionName> = new Set([
  "InternalServerException",
  "ModelStreamErrorException",
  "ValidationException",
  "ThrottlingException",
  "ModelTimeoutException",
  "ServiceUnavailableException",
]);

export function isBedrockExceptionName(name: string): name is BedrockExceptionName {
  return Object.hasOwn(BEDROCK_EXCEPTION_STATUS, name);
}
