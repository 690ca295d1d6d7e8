/**
 * AWS errors in plain words, with the fix: the doctor's dictionary. Keyed by exception name (and,
 * where one name covers several causes, by the words of the message).
 */
import type { ModelEntry } from "../models/catalog.js";

export interface Explanation {
  detail: string;
  fix: string;
}

export interface ExplainContext {
  region: string;
  profile?: string;
  sso?: boolean;
  model?: ModelEntry;
}

export function explainAwsError(name: string | undefined, message: string, ctx: ExplainContext): Explanation {
  const login = ctx.profile ? `aws sso login --profile ${ctx.profile}` : "aws sso login";
  switch (name) {
    case "UnrecognizedClientException":
    case "InvalidClientTokenId":
      return {
        detail: `AWS does not know this access key (${message}): it was deleted or deactivated, belongs to another partition, or has a typo; a temporary key without its session token fails the same way.`,
        fix: "Check AWS_ACCESS_KEY_ID (and AWS_SESSION_TOKEN for ASIA… keys), or run aws configure / aws sso login for a fresh pair.",
      };
    case "ExpiredTokenException":
    case "ExpiredToken":
      return {
        detail: `The session credentials have expired (${message}).`,
        fix: ctx.sso
          ? login
          : "Get fresh temporary credentials (aws sso login, aws sts assume-role, or restart the process that issued them).",
      };
    case "InvalidSignatureException":
    case "SignatureDoesNotMatch":
      if (/expired|not yet current/i.test(message)) {
        return {
          detail: `AWS refused the request's time: ${message.split("\n")[0]}. This machine's clock is off by more than five minutes.`,
          fix: "Sync the clock: sudo chronyc makestep (Linux), sudo sntp -sS time.apple.com (macOS), w32tm /resync (Windows).",
        };
      }
      return {
        detail: "The signature does not match: the secret access key is wrong for this access key id.",
        fix: "Check AWS_SECRET_ACCESS_KEY (or aws_secret_access_key in ~/.aws/credentials): aws configure.",
      };
    case "AccessDeniedException":
      if (/don.t have access to the model/i.test(message)) {
        return {
          detail: `Model access is not granted to this account in ${ctx.region} for ${ctx.model?.modelName ?? "the model"}.`,
          fix: `In the Bedrock console of ${ctx.region}, open Model access and enable ${ctx.model?.modelName ?? "the model"} (Anthropic models also need the use-case form once per account).`,
        };
      }
      if (/Authorization header is missing|Authentication failed|API Key/i.test(message)) {
        return {
          detail: `The Bedrock API key was refused: ${message}`,
          fix: "Create a new Bedrock API key (console: Bedrock → API keys) and export AWS_BEARER_TOKEN_BEDROCK=<key>.",
        };
      }
      return {
        detail: `The identity lacks the IAM permission: ${message}`,
        fix: "Attach the policy below to the identity (role or user).",
      };
    case "ValidationException":
      if (/on-demand throughput/i.test(message)) {
        return {
          detail:
            "This model cannot be called by its foundation model id on demand: it needs an inference profile.",
          fix: "Use the inference profile id (e.g. us.<model id>) or the Anthropic name; bedrock-claude resolves names to the region's profile.",
        };
      }
      if (/model identifier is invalid/i.test(message)) {
        return {
          detail: `The model id is not served in ${ctx.region}.`,
          fix: `Pick a model the region serves: bedrock-claude models --region ${ctx.region}`,
        };
      }
      return { detail: message, fix: "Check the request (model, region, body)." };
    case "ResourceNotFoundException":
      return {
        detail: message,
        fix: `Move to a current model: bedrock-claude models --region ${ctx.region}`,
      };
    default:
      return {
        detail: `${name ?? "Error"}: ${message}`,
        fix: "See the AWS error above; bedrock-claude doctor --json shows the evidence.",
      };
  }
}

/** The least-privilege IAM policy for invoking a model through a profile (or in region). */
export function invokePolicy(
  account: string,
  region: string,
  profileId: string | undefined,
  foundationId: string,
  profileRegions: string[],
): string {
  const resources = profileId
    ? [
        `arn:aws:bedrock:${region}:${account}:inference-profile/${profileId}`,
        ...profileRegions.map((r) => `arn:aws:bedrock:${r}::foundation-model/${foundationId}`),
      ]
    : [`arn:aws:bedrock:${region}::foundation-model/${foundationId}`];
  return JSON.stringify(
    {
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "InvokeClaude",
          Effect: "Allow",
          Action: ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
          Resource: resources,
        },
      ],
    },
    null,
    2,
  );
}
