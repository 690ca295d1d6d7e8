/** Applies a target's credentials to an outgoing request: SigV4, a Bedrock API key, or x-api-key. */
import type { OutgoingRequest } from "../aws/sign.js";
import type { Target } from "./target.js";

export class CredentialsError extends Error {
  override readonly name = "CredentialsError";
}

export async function authorize(
  target: Target,
  request: OutgoingRequest,
  signing: "messages" | "runtime" = "messages",
): Promise<Record<string, string>> {
  const { auth } = target;
  switch (auth.kind) {
    case "bearer":
      return { ...request.headers, authorization: `Bearer ${auth.token}` };
    case "x-api-key":
      if (!auth.key) {
        throw new CredentialsError(
          `No Anthropic API key for target "${target.name}": set ANTHROPIC_API_KEY or pass apiKey.`,
        );
      }
      return { ...request.headers, "x-api-key": auth.key };
    case "sigv4":
      try {
        return await (signing === "runtime" ? auth.runtimeSigner : auth.signer).sign(request);
      } catch (error) {
        const cause = error instanceof Error ? error.message : String(error);
        throw new CredentialsError(
          `Could not load AWS credentials for target "${target.name}": ${cause}. ` +
            "Fix: run `aws sso login` (SSO), set AWS_PROFILE to a profile with credentials, or export " +
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_BEARER_TOKEN_BEDROCK for a Bedrock API key).",
          { cause: error },
        );
      }
  }
}
