/**
 * Where credentials come from, named before they are used: the AWS chain resolves silently, so the
 * doctor looks at the same inputs (environment, shared files, container and web-identity
 * variables) to say which link supplies them, and catches a half-set key pair by name.
 */
import { loadSharedConfigFiles } from "@smithy/shared-ini-file-loader";

export type SourceKind =
  | "api-key"
  | "environment"
  | "profile-static"
  | "sso"
  | "assume-role"
  | "credential-process"
  | "web-identity"
  | "container"
  | "instance-metadata"
  | "none";

export interface CredentialSource {
  kind: SourceKind;
  /** Human description: `environment (AWS_ACCESS_KEY_ID)`, `profile "dev" (SSO)`. */
  description: string;
  profile?: string;
  /** A problem visible without calling anything. */
  problem?: { detail: string; fix: string };
}

export async function detectCredentialSource(
  options: { profile?: string; apiKey?: string },
  env = process.env,
): Promise<CredentialSource> {
  if (options.apiKey ?? env.AWS_BEARER_TOKEN_BEDROCK) {
    return {
      kind: "api-key",
      description: options.apiKey ? "Bedrock API key (option)" : "Bedrock API key (AWS_BEARER_TOKEN_BEDROCK)",
    };
  }
  const keyId = env.AWS_ACCESS_KEY_ID;
  const secret = env.AWS_SECRET_ACCESS_KEY;
  if (!options.profile && (keyId || secret)) {
    if (!keyId || !secret) {
      const missing = keyId ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID";
      return {
        kind: "environment",
        description: "environment",
        problem: {
          detail: `Only half of a key pair is set: ${missing} is missing.`,
          fix: `export ${missing}=...   (or unset ${keyId ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY"} and use a profile)`,
        },
      };
    }
    const temporary = keyId.startsWith("ASIA");
    if (temporary && !env.AWS_SESSION_TOKEN) {
      return {
        kind: "environment",
        description: "environment (AWS_ACCESS_KEY_ID)",
        problem: {
          detail: `${keyId.slice(0, 8)}… is a temporary key (ASIA…) but AWS_SESSION_TOKEN is not set.`,
          fix: "export AWS_SESSION_TOKEN=... from the same session, or get fresh credentials (aws sso login, aws sts assume-role).",
        },
      };
    }
    return {
      kind: "environment",
      description: `environment (AWS_ACCESS_KEY_ID ${keyId.slice(0, 4)}…${temporary ? ", temporary" : ""})`,
    };
  }
  const profile = options.profile ?? env.AWS_PROFILE;
  let files: Awaited<ReturnType<typeof loadSharedConfigFiles>> = { configFile: {}, credentialsFile: {} };
  try {
    files = await loadSharedConfigFiles({ ignoreCache: true });
  } catch {
    // no files
  }
  const name = profile ?? "default";
  const config = files.configFile[name];
  const credentials = files.credentialsFile[name];
  if (profile && !config && !credentials) {
    const known = [...new Set([...Object.keys(files.configFile), ...Object.keys(files.credentialsFile)])];
    return {
      kind: "none",
      description: `profile "${profile}"`,
      profile,
      problem: {
        detail: `The profile "${profile}" is in neither ~/.aws/config nor ~/.aws/credentials${known.length > 0 ? ` (profiles there: ${known.join(", ")})` : ""}.`,
        fix: `aws configure --profile ${profile}   (or aws configure sso --profile ${profile}), or set AWS_PROFILE to an existing profile`,
      },
    };
  }
  const section = { ...config, ...credentials };
  if (config || credentials) {
    if (section.sso_session || section.sso_start_url)
      return { kind: "sso", description: `profile "${name}" (SSO)`, profile: name };
    if (section.role_arn)
      return {
        kind: "assume-role",
        description: `profile "${name}" (assume role ${section.role_arn})`,
        profile: name,
      };
    if (section.credential_process)
      return {
        kind: "credential-process",
        description: `profile "${name}" (credential_process)`,
        profile: name,
      };
    if (section.web_identity_token_file)
      return { kind: "web-identity", description: `profile "${name}" (web identity)`, profile: name };
    if (section.aws_access_key_id || section.aws_secret_access_key) {
      if (!section.aws_access_key_id || !section.aws_secret_access_key) {
        return {
          kind: "profile-static",
          description: `profile "${name}" (keys in ~/.aws/credentials)`,
          profile: name,
          problem: {
            detail: `The profile "${name}" has ${section.aws_access_key_id ? "aws_access_key_id but no aws_secret_access_key" : "aws_secret_access_key but no aws_access_key_id"}.`,
            fix: `aws configure --profile ${name}`,
          },
        };
      }
      return {
        kind: "profile-static",
        description: `profile "${name}" (keys in ~/.aws/credentials)`,
        profile: name,
      };
    }
  }
  if (env.AWS_WEB_IDENTITY_TOKEN_FILE)
    return { kind: "web-identity", description: "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)" };
  if (env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || env.AWS_CONTAINER_CREDENTIALS_FULL_URI) {
    return { kind: "container", description: "container credentials (ECS/EKS)" };
  }
  if (env.AWS_EC2_METADATA_DISABLED !== "true")
    return { kind: "instance-metadata", description: "instance metadata (EC2 role), if this runs on EC2" };
  return {
    kind: "none",
    description: "none",
    problem: {
      detail:
        "No AWS credentials were found: no environment keys, no profile, no SSO, no container or instance role.",
      fix: "aws configure sso (then aws sso login), or export AWS_PROFILE=<profile>, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or export AWS_BEARER_TOKEN_BEDROCK=<Bedrock API key>",
    },
  };
}
