/**
 * How the CLI reports failures: what failed, why, what to do; and an exit code per kind, so
 * scripts can tell a usage mistake from an auth problem from an upstream failure.
 */
import { APIConnectionError, APIError } from "@anthropic-ai/sdk";
import { UsageError } from "./upstream-options.js";

export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  auth: 3,
  notFound: 4,
  upstream: 5,
} as const;

function upstreamMessage(error: APIError): string {
  const body = error.error as { error?: { message?: string } } | undefined;
  return body?.error?.message ?? error.message;
}

export function describeFailure(error: unknown): { message: string; code: number } {
  if (error instanceof UsageError) return { message: error.message, code: EXIT.usage };
  if (error instanceof APIConnectionError) {
    return {
      message: `Could not reach the service: ${error.cause instanceof Error ? error.cause.message : error.message}. Check --endpoint, the network or proxy (HTTPS_PROXY), and the region.`,
      code: EXIT.upstream,
    };
  }
  if (error instanceof APIError) {
    const message = upstreamMessage(error);
    switch (error.status) {
      case 401:
        return {
          message: `Authentication failed: ${message}`,
          code: EXIT.auth,
        };
      case 403:
        return {
          message: `Permission denied: ${message}\nThe identity needs bedrock:InvokeModel (and InvokeModelWithResponseStream for streaming) on the model and its inference profile, and model access granted.`,
          code: EXIT.auth,
        };
      case 404:
        return { message: `Not found: ${message}`, code: EXIT.notFound };
      case 400:
        return { message: `The request was refused: ${message}`, code: EXIT.failure };
      case 429:
        return {
          message: `Rate limited: ${message}\nRetry later, or ask for a higher quota in AWS Service Quotas.`,
          code: EXIT.upstream,
        };
      default:
        return { message: `The service failed (HTTP ${error.status}): ${message}`, code: EXIT.upstream };
    }
  }
  return { message: error instanceof Error ? error.message : String(error), code: EXIT.failure };
}
