/**
 * SigV4 signing of an outgoing request with `@smithy/signature-v4` and Node's native SHA-256
 * (`@smithy/hash-node`; the pure-JS hash the Anthropic SDKs use is several times slower).
 */
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentialIdentityProvider } from "@smithy/types";

export interface OutgoingRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: Uint8Array;
}

export class RequestSigner {
  private readonly signer: SignatureV4;

  constructor(service: string, region: string, credentials: AwsCredentialIdentityProvider) {
    this.signer = new SignatureV4({ service, region, credentials, sha256: Hash.bind(null, "sha256") });
  }

  /** Returns the headers to send: the request's own plus `authorization`, `x-amz-date`, and the token. */
  async sign(request: OutgoingRequest): Promise<Record<string, string>> {
    const query: Record<string, string | string[]> = {};
    for (const key of new Set(request.url.searchParams.keys())) {
      const values = request.url.searchParams.getAll(key);
      query[key] = values.length === 1 ? values[0]! : values;
    }
    const signed = await this.signer.sign({
      method: request.method,
      protocol: request.url.protocol,
      hostname: request.url.hostname,
      port: request.url.port ? Number(request.url.port) : undefined,
      // The path exactly as it goes on the wire; the signer encodes it once more (non-S3 rule).
      path: request.url.pathname,
      query,
      headers: { ...request.headers, host: request.url.host },
      body: request.body,
    });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(signed.headers)) {
      if (name.toLowerCase() !== "host") headers[name] = String(value);
    }
    return headers;
  }
}
