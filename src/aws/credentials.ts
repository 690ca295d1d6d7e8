/**
 * AWS credentials through the AWS SDK's own providers: the standard chain (environment, shared
 * config and credentials files with profiles, SSO, assume-role, web identity, process, container
 * and instance metadata), a named profile, static keys, or a provider function. Whatever the
 * source, credentials are cached and refreshed five minutes before they expire, and concurrent
 * callers share one refresh.
 */
import { createCredentialChain, fromEnv, fromNodeProviderChain } from "@aws-sdk/credential-providers";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";

export type { AwsCredentialIdentity, AwsCredentialIdentityProvider };

export type CredentialsOption = AwsCredentialIdentity | AwsCredentialIdentityProvider;

const REFRESH_BEFORE_MS = 5 * 60_000;

/** Caches a provider's credentials until shortly before they expire; failures are not cached. */
export function cachedProvider(
  provider: AwsCredentialIdentityProvider,
  now: () => number = Date.now,
): AwsCredentialIdentityProvider {
  let current: AwsCredentialIdentity | undefined;
  let pending: Promise<AwsCredentialIdentity> | undefined;
  const fresh = (c: AwsCredentialIdentity) =>
    c.expiration === undefined || c.expiration.getTime() - REFRESH_BEFORE_MS > now();
  return async () => {
    if (current && fresh(current)) return current;
    pending ??= (async () => {
      try {
        // forceRefresh: the SDK's own caches would hand back credentials that are about to expire.
        current = await provider(current ? { forceRefresh: true } : undefined);
        return current;
      } finally {
        pending = undefined;
      }
    })();
    return pending;
  };
}

export interface CredentialSourceOptions {
  credentials?: CredentialsOption;
  /** A profile of the shared config files; without it, `AWS_PROFILE` or `default`. */
  profile?: string;
}

/**
 * The provider for a target. Environment credentials win over `AWS_PROFILE` when no profile is
 * given explicitly, as the AWS CLI and the Anthropic SDKs do (the SDK's default chain would skip
 * them whenever AWS_PROFILE is set).
 */
export function credentialProvider(options: CredentialSourceOptions = {}): AwsCredentialIdentityProvider {
  const { credentials, profile } = options;
  if (typeof credentials === "function") return cachedProvider(credentials);
  if (credentials) return async () => credentials;
  if (profile) return cachedProvider(fromNodeProviderChain({ profile }));
  return cachedProvider(createCredentialChain(fromEnv(), fromNodeProviderChain()));
}
