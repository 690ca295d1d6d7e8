/**
 * What an upstream outcome means for the next step, decided by tables (style: smithy's retry
 * classification), not by `if` chains across the code:
 * - `retry`: can succeed if tried again (throttling, unavailability, 5xx, connection failures and
 *   timeouts before the first byte); retried on the same target, then failed over;
 * - `failover`: this target cannot serve it but another may (access denied or model missing in one
 *   region, a model timeout); go straight to the next target;
 * - `fatal`: the request itself is wrong (validation, other 4xx): no other attempt can help.
 */
export type Verdict = "success" | "retry" | "failover" | "fatal";

/** AWS exception names worth retrying (Bedrock's modelled retryable errors, plus 5xx ones). */
export const RETRYABLE_EXCEPTIONS: ReadonlySet<string> = new Set([
  "ThrottlingException",
  "ServiceUnavailableException",
  "ModelNotReadyException",
  "InternalServerException",
]);

/** Exceptions that end this target's part but not the request. */
export const FAILOVER_EXCEPTIONS: ReadonlySet<string> = new Set([
  "AccessDeniedException",
  "ResourceNotFoundException",
  "ModelTimeoutException",
  "ModelErrorException",
  "ServiceQuotaExceededException",
  "UnrecognizedClientException",
  "ExpiredTokenException",
]);

export const RETRYABLE_STATUS: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504, 529]);
export const FAILOVER_STATUS: ReadonlySet<number> = new Set([401, 403, 404]);

/** Network failures before a response: the request may not have reached the model at all. */
export const RETRYABLE_NETWORK_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_CLOSED",
  "UND_ERR_ABORTED_BY_TIMEOUT",
]);

export interface Outcome {
  status?: number;
  /** AWS exception name, when the answer carried one. */
  errorName?: string;
  /** Node or undici error code of a failure before any response. */
  networkCode?: string;
}

export function classify(outcome: Outcome): Verdict {
  const { status, errorName, networkCode } = outcome;
  if (networkCode !== undefined) return RETRYABLE_NETWORK_CODES.has(networkCode) ? "retry" : "failover";
  if (status !== undefined && status >= 200 && status < 300) return "success";
  if (errorName && RETRYABLE_EXCEPTIONS.has(errorName)) return "retry";
  if (errorName && FAILOVER_EXCEPTIONS.has(errorName)) return "failover";
  if (status !== undefined && RETRYABLE_STATUS.has(status)) return "retry";
  if (status !== undefined && FAILOVER_STATUS.has(status)) return "failover";
  return "fatal";
}

/** Throttling is a quota signal, not a health one: it slows the limiter, it does not trip a breaker. */
export function isThrottle(outcome: Outcome): boolean {
  return outcome.status === 429 || outcome.errorName === "ThrottlingException";
}

/** The error code of a failed fetch: undici puts it on the cause. */
export function networkCodeOf(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
