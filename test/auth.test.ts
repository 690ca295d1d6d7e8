/**
 * Authentication and authorisation failures over real HTTP: each must carry the status,
 * `x-amzn-ErrorType` and body that AWS's front door sends (captured answers:
 * /tmp/research/aws-errors.md sections 1-8, bedrock-wire.md sections 4-5).
 * Plus a unit test of the SigV4 verifier against AWS's published "get-vanilla" vector.
 */
import {
  AccessDeniedException,
  BedrockRuntimeClient,
  BedrockRuntimeServiceException,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
} from "@aws-sdk/client-bedrock-runtime";
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import { describe, expect, it } from "vitest";
import { type IncomingSignedRequest, verifySigV4 } from "../src/aws/sigv4-verify.js";
import {
  type AwsCredentials,
  awsAnswer,
  awsClientConfig,
  HAIKU_45_PROFILE,
  invokeBody,
  SONNET_46_FOUNDATION,
  SONNET_46_PROFILE,
  signedFetch,
  TEST_CREDENTIALS,
  useClients,
  useEmulator,
} from "./helpers.js";

/** The emulator's clock is frozen here, so the skew messages can be checked to the second. */
const NOW = Date.now();
const MINUTE = 60_000;
const PAST = "2020-01-01T00:00:00Z";

const SESSION = {
  accessKeyId: "ASIASESSIONUSER01",
  secretAccessKey: "session-secret",
  sessionToken: "session-token-1",
};
const EXPIRED_SESSION = {
  accessKeyId: "ASIAEXPIREDUSER01",
  secretAccessKey: "expired-secret",
  sessionToken: "expired-token-1",
};
const INVOKE_ONLY = { accessKeyId: "AKIAINVOKEONLY0001", secretAccessKey: "invoke-only-secret" };
const HAIKU_ONLY = { accessKeyId: "AKIAHAIKUACCESS001", secretAccessKey: "haiku-only-secret" };
const EXPIRED_API_KEY = "ABSKZXhwaXJlZC1rZXktZm9yLXRlc3Rz";

const emulator = useEmulator({
  now: () => NOW,
  config: {
    identities: [
      { name: "session-user", ...SESSION },
      { name: "expired-session", ...EXPIRED_SESSION, expiresAt: PAST },
      {
        name: "invoke-only",
        ...INVOKE_ONLY,
        account: "123456789012",
        allowedActions: ["bedrock:InvokeModel"],
      },
      { name: "haiku-only", ...HAIKU_ONLY, modelAccess: ["anthropic.claude-haiku-4-5*"] },
    ],
    apiKeys: [{ key: EXPIRED_API_KEY, identity: "test", expiresAt: PAST }],
  },
});

const MISMATCH =
  "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const INVALID_TOKEN = "The security token included in the request is invalid.";
const INVOKE_PATH = `/model/${SONNET_46_PROFILE}/invoke`;
const STREAM_PATH = `/model/${SONNET_46_PROFILE}/invoke-with-response-stream`;
const BODY = JSON.stringify(invokeBody());
const MANTLE_BODY = JSON.stringify({
  model: "anthropic.claude-sonnet-4-6",
  max_tokens: 32,
  messages: [{ role: "user", content: "Hello" }],
});

/** `YYYYMMDDTHHMMSSZ`, the form AWS prints dates in. */
function amz(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

const answer = awsAnswer;

function post(path: string, headers: Record<string, string> = {}, body = BODY): Promise<Response> {
  return fetch(`${emulator.current.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
}

function bearer(key: string, path = INVOKE_PATH): Promise<Response> {
  return post(path, { authorization: `Bearer ${key}` });
}

/**
 * Signs by hand, for what signedFetch cannot do: sign a `host` other than the one sent, or
 * leave `x-amz-content-sha256` out as botocore does.
 */
async function signAndSend(options: {
  path: string;
  signedHost: string;
  applyChecksum?: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}): Promise<Response> {
  const url = new URL(emulator.current.url);
  const signer = new SignatureV4({
    service: "bedrock",
    region: "us-east-1",
    credentials: options.credentials ?? TEST_CREDENTIALS,
    sha256: Hash.bind(null, "sha256"),
    applyChecksum: options.applyChecksum ?? true,
  });
  const signed = await signer.sign({
    method: "POST",
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: options.path,
    query: {},
    headers: { host: options.signedHost, "content-type": "application/json" },
    body: BODY,
  });
  const headers = new Headers();
  for (const [name, value] of Object.entries(signed.headers))
    if (name !== "host") headers.set(name, String(value));
  return fetch(`${emulator.current.url}${options.path}`, { method: "POST", headers, body: BODY });
}

function shortTermKey(signedAt: number, region = "us-west-2"): string {
  const date = amz(signedAt);
  const url =
    "bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256" +
    `&X-Amz-Credential=test%2F${date.slice(0, 8)}%2F${region}%2Fbedrock%2Faws4_request` +
    `&X-Amz-Date=${date}&X-Amz-Expires=43200&X-Amz-SignedHeaders=host&X-Amz-Signature=abc&Version=1`;
  return `bedrock-api-key-${Buffer.from(url).toString("base64")}`;
}

const keep = useClients();
function sdk(options: { credentials?: AwsCredentials; systemClockOffset?: number }): BedrockRuntimeClient {
  return keep(
    new BedrockRuntimeClient({
      ...awsClientConfig(emulator.current.url, { credentials: options.credentials }),
      ...(options.systemClockOffset === undefined ? {} : { systemClockOffset: options.systemClockOffset }),
    }),
  );
}

/** `BODY` to `path`, SigV4-signed with `credentials`. */
function signedAs(credentials: AwsCredentials, path = INVOKE_PATH): Promise<Response> {
  return signedFetch(emulator.current.url, { path, body: BODY, credentials });
}

/** InvokeModel of Sonnet 4.6 with `BODY` through the AWS SDK, signed with `credentials`. */
function sdkInvokeAs(credentials: AwsCredentials) {
  return sdk({ credentials }).send(new InvokeModelCommand({ modelId: SONNET_46_PROFILE, body: BODY }));
}

async function sdkError(promise: Promise<unknown>): Promise<BedrockRuntimeServiceException> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BedrockRuntimeServiceException);
  return error as BedrockRuntimeServiceException;
}

describe("no or foreign Authorization header", () => {
  it('no Authorization: 403 AccessDeniedException, exactly {"Message":"Authorization header is missing"}', async () => {
    const res = await post(INVOKE_PATH);
    expect(res.status).toBe(403);
    expect(res.headers.get("x-amzn-errortype")?.split(":")[0]).toBe("AccessDeniedException");
    expect(res.headers.get("content-type")).toContain("application/json");
    // The captured answer is 45 bytes: capital M, compact JSON.
    expect(await res.text()).toBe('{"Message":"Authorization header is missing"}');
  });

  it.each([
    ["Basic", "Basic dXNlcjpwYXNzd29yZA=="],
    ["a raw Anthropic token", "sk-ant-oat01-abcdefghijklmnop"],
    ["Token scheme", "Token abc123"],
  ])("%s: goes down the API-key path, 403 Invalid API Key format", async (_name, authorization) => {
    expect(await answer(await post(INVOKE_PATH, { authorization }))).toEqual({
      status: 403,
      errorType: "AccessDeniedException",
      body: { Message: "Invalid API Key format: Must start with pre-defined prefix" },
    });
  });
});

describe("malformed AWS4-HMAC-SHA256 headers: IncompleteSignatureException", () => {
  const date = amz(NOW);

  it("lists every missing part and echoes the raw header (AWS4 with nothing else)", async () => {
    const authorization = "AWS4-HMAC-SHA256";
    expect(await answer(await post(INVOKE_PATH, { authorization, "x-amz-date": date }))).toEqual({
      status: 400,
      errorType: "IncompleteSignatureException",
      body: {
        message:
          "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256",
      },
    });
  });

  it("lists only the missing Signature and SignedHeaders, then Authorization=<the whole raw header>", async () => {
    // Wording captured in brendanhay/amazonka#316.
    const authorization = "AWS4-HMAC-SHA256 Credential=ABCDEF";
    expect(await answer(await post(INVOKE_PATH, { authorization, "x-amz-date": date }))).toEqual({
      status: 400,
      errorType: "IncompleteSignatureException",
      body: {
        message:
          "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential=ABCDEF",
      },
    });
  });

  it("names a missing Signature alone when Credential and SignedHeaders are there", async () => {
    const authorization = `AWS4-HMAC-SHA256 Credential=test/${date.slice(0, 8)}/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date`;
    expect(await answer(await post(INVOKE_PATH, { authorization, "x-amz-date": date }))).toEqual({
      status: 400,
      errorType: "IncompleteSignatureException",
      body: {
        message: `Authorization header requires 'Signature' parameter. Authorization=${authorization}`,
      },
    });
  });

  it("without X-Amz-Date or Date: the date sentence, then Authorization=<raw header>", async () => {
    const authorization = `AWS4-HMAC-SHA256 Credential=test/${date.slice(0, 8)}/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host, Signature=${"0".repeat(64)}`;
    expect(await answer(await post(INVOKE_PATH, { authorization }))).toEqual({
      status: 400,
      errorType: "IncompleteSignatureException",
      body: {
        message: `Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=${authorization}`,
      },
    });
  });
});

describe("SigV4 credentials and signatures", () => {
  it("a correctly signed request works (control)", async () => {
    const res = await signedFetch(emulator.current.url, { path: INVOKE_PATH, body: BODY });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { type: string }).type).toBe("message");
  });

  it("unknown access key: 403 UnrecognizedClientException, 'The security token included in the request is invalid.'", async () => {
    const res = await signedAs({ accessKeyId: "AKIAUNKNOWNKEY00001", secretAccessKey: "whatever" });
    expect(await answer(res)).toEqual({
      status: 403,
      errorType: "UnrecognizedClientException",
      body: { message: INVALID_TOKEN },
    });
  });

  it("wrong secret through the official AWS SDK: InvalidSignatureException, 403, the 'does not match' message", async () => {
    const client = sdk({ credentials: { accessKeyId: "test", secretAccessKey: "not-the-secret" } });
    const error = await sdkError(
      client.send(new InvokeModelCommand({ modelId: SONNET_46_PROFILE, body: BODY })),
    );
    expect(error.name).toBe("InvalidSignatureException");
    expect(error.$fault).toBe("client");
    expect(error.$metadata.httpStatusCode).toBe(403);
    expect(error.$metadata.attempts).toBe(1);
    expect(error.message.startsWith(MISMATCH)).toBe(true);
  });

  it("wrong secret: the body shows the canonical request and string-to-sign AWS computed", async () => {
    // Captured on Bedrock (BerriAI/litellm#14763): the first sentence, then
    // "\n\nThe Canonical String for this request should have been\n'...'\n\nThe String-to-Sign should have been\n'...'\n".
    const signingDate = new Date(NOW);
    const res = await signedFetch(emulator.current.url, {
      path: INVOKE_PATH,
      body: BODY,
      signingDate,
      credentials: { accessKeyId: "test", secretAccessKey: "not-the-secret" },
    });
    const got = await answer(res);
    expect(got).toMatchObject({ status: 403, errorType: "InvalidSignatureException" });
    const message = (got.body as { message: string }).message;
    expect(
      message.startsWith(
        `${MISMATCH}\n\nThe Canonical String for this request should have been\n'POST\n/model/`,
      ),
    ).toBe(true);
    expect(message).toContain(
      `'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n${amz(NOW)}\n${amz(NOW).slice(0, 8)}/us-east-1/bedrock/aws4_request\n`,
    );
    expect(message.endsWith("'\n")).toBe(true);
  });

  it("body changed after signing: 403 InvalidSignatureException, the 'does not match' message", async () => {
    const res = await signedFetch(emulator.current.url, {
      path: INVOKE_PATH,
      body: BODY,
      tamper: (body) => new TextEncoder().encode(new TextDecoder().decode(body).replace("Hello", "Hellp")),
    });
    const got = await answer(res);
    expect(got).toMatchObject({ status: 403, errorType: "InvalidSignatureException" });
    expect(Object.keys(got.body as object)).toEqual(["message"]);
    expect((got.body as { message: string }).message.startsWith(MISMATCH)).toBe(true);
  });

  it("credential scoped to the wrong service: 403 'Credential should be scoped to correct service: 'bedrock'. '", async () => {
    const res = await signedFetch(emulator.current.url, {
      path: INVOKE_PATH,
      body: BODY,
      service: "bedrock-runtime",
    });
    expect(await answer(res)).toEqual({
      status: 403,
      errorType: "InvalidSignatureException",
      // The trailing space is part of AWS's text.
      body: { message: "Credential should be scoped to correct service: 'bedrock'. " },
    });
  });

  it("a signature over the host without its port is accepted", async () => {
    const res = await signAndSend({ path: INVOKE_PATH, signedHost: new URL(emulator.current.url).hostname });
    expect(res.status).toBe(200);
  });

  it("a signature without x-amz-content-sha256 (botocore's way) is accepted", async () => {
    const res = await signAndSend({
      path: INVOKE_PATH,
      signedHost: new URL(emulator.current.url).host,
      applyChecksum: false,
    });
    expect(res.status).toBe(200);
  });
});

describe("clock skew (5 minutes)", () => {
  it("signed 10 minutes ago: 403 'Signature expired: <date> is now earlier than <now-5m> (<now> - 5 min.)'", async () => {
    const signedAt = NOW - 10 * MINUTE;
    const res = await signedFetch(emulator.current.url, {
      path: INVOKE_PATH,
      body: BODY,
      signingDate: new Date(signedAt),
    });
    expect(await answer(res)).toEqual({
      status: 403,
      errorType: "InvalidSignatureException",
      body: {
        message: `Signature expired: ${amz(signedAt)} is now earlier than ${amz(NOW - 5 * MINUTE)} (${amz(NOW)} - 5 min.)`,
      },
    });
  });

  it("signed 10 minutes ahead: 403 'Signature not yet current: <date> is still later than <now+5m> (<now> + 5 min.)'", async () => {
    const signedAt = NOW + 10 * MINUTE;
    const res = await signedFetch(emulator.current.url, {
      path: INVOKE_PATH,
      body: BODY,
      signingDate: new Date(signedAt),
    });
    expect(await answer(res)).toEqual({
      status: 403,
      errorType: "InvalidSignatureException",
      body: {
        message: `Signature not yet current: ${amz(signedAt)} is still later than ${amz(NOW + 5 * MINUTE)} (${amz(NOW)} + 5 min.)`,
      },
    });
  });

  it("through the AWS SDK with systemClockOffset -10 min and one attempt: no skew correction, InvalidSignatureException", async () => {
    emulator.current.resetJournal();
    const client = sdk({ systemClockOffset: -10 * MINUTE });
    const error = await sdkError(
      client.send(new InvokeModelCommand({ modelId: SONNET_46_PROFILE, body: BODY })),
    );
    expect(error.name).toBe("InvalidSignatureException");
    expect(error.$metadata.httpStatusCode).toBe(403);
    expect(error.message).toMatch(
      new RegExp(
        `^Signature expired: \\d{8}T\\d{6}Z is now earlier than ${amz(NOW - 5 * MINUTE)} \\(${amz(NOW)} - 5 min\\.\\)$`,
      ),
    );
    // One request reached the emulator: the SDK did not retry with a corrected clock.
    expect(emulator.current.requests()).toHaveLength(1);
  });

  it("through the AWS SDK with systemClockOffset +10 min: 'Signature not yet current'", async () => {
    emulator.current.resetJournal();
    const client = sdk({ systemClockOffset: 10 * MINUTE });
    const error = await sdkError(
      client.send(new InvokeModelCommand({ modelId: SONNET_46_PROFILE, body: BODY })),
    );
    expect(error.name).toBe("InvalidSignatureException");
    expect(error.$metadata.httpStatusCode).toBe(403);
    expect(error.message).toMatch(
      new RegExp(
        `^Signature not yet current: \\d{8}T\\d{6}Z is still later than ${amz(NOW + 5 * MINUTE)} \\(${amz(NOW)} \\+ 5 min\\.\\)$`,
      ),
    );
    expect(emulator.current.requests()).toHaveLength(1);
  });
});

describe("temporary credentials (session tokens)", () => {
  it("missing session token: 403 UnrecognizedClientException", async () => {
    const res = await signedAs({
      accessKeyId: SESSION.accessKeyId,
      secretAccessKey: SESSION.secretAccessKey,
    });
    expect(await answer(res)).toEqual({
      status: 403,
      errorType: "UnrecognizedClientException",
      body: { message: INVALID_TOKEN },
    });
  });

  it("wrong session token: 403 UnrecognizedClientException", async () => {
    const res = await signedAs({ ...SESSION, sessionToken: "some-other-token" });
    expect(await answer(res)).toEqual({
      status: 403,
      errorType: "UnrecognizedClientException",
      body: { message: INVALID_TOKEN },
    });
  });

  it("the right session token works, raw and through the SDK", async () => {
    const res = await signedAs(SESSION);
    expect(res.status).toBe(200);
    const out = await sdkInvokeAs(SESSION);
    expect(out.$metadata.httpStatusCode).toBe(200);
  });

  it("credentials past their expiry: 403 ExpiredTokenException 'The security token included in the request is expired'", async () => {
    const res = await signedAs(EXPIRED_SESSION);
    expect(await answer(res)).toEqual({
      status: 403,
      errorType: "ExpiredTokenException",
      // No final period in AWS's text.
      body: { message: "The security token included in the request is expired" },
    });
    const error = await sdkError(sdkInvokeAs(EXPIRED_SESSION));
    expect(error.name).toBe("ExpiredTokenException");
    expect(error.$metadata.httpStatusCode).toBe(403);
  });

  it("a permanent identity sending a session token: 403 UnrecognizedClientException", async () => {
    const res = await signedAs({ ...TEST_CREDENTIALS, sessionToken: "not-expected" });
    expect(await answer(res)).toEqual({
      status: 403,
      errorType: "UnrecognizedClientException",
      body: { message: INVALID_TOKEN },
    });
  });
});

describe("IAM: actions and model access", () => {
  const streamDenied =
    "User: arn:aws:iam::123456789012:user/invoke-only is not authorized to perform: bedrock:InvokeModelWithResponseStream on resource: arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-6 because no identity-based policy allows the bedrock:InvokeModelWithResponseStream action";

  it("an identity allowed bedrock:InvokeModel only may invoke (control)", async () => {
    const res = await signedAs(INVOKE_ONLY);
    expect(res.status).toBe(200);
  });

  it("...but not stream: 403 AccessDeniedException naming the action and the profile ARN, body key `Message`", async () => {
    const res = await signedAs(INVOKE_ONLY, STREAM_PATH);
    expect(await answer(res)).toEqual({
      status: 403,
      errorType: "AccessDeniedException",
      body: { Message: streamDenied },
    });
  });

  it("...and the SDK raises its modelled AccessDeniedException with that message", async () => {
    const error = await sdkError(
      sdk({ credentials: INVOKE_ONLY }).send(
        new InvokeModelWithResponseStreamCommand({ modelId: SONNET_46_PROFILE, body: BODY }),
      ),
    );
    expect(error).toBeInstanceOf(AccessDeniedException);
    expect(error.$metadata.httpStatusCode).toBe(403);
    expect(error.message).toBe(streamDenied);
  });

  it("model access not granted: 403 AccessDeniedException 'You don't have access to the model with the specified model ID.'", async () => {
    const res = await signedAs(HAIKU_ONLY);
    expect(await answer(res)).toEqual({
      status: 403,
      errorType: "AccessDeniedException",
      body: { message: "You don't have access to the model with the specified model ID." },
    });
    const error = await sdkError(sdkInvokeAs(HAIKU_ONLY));
    expect(error).toBeInstanceOf(AccessDeniedException);
    // The model it was granted still works.
    const ok = await signedFetch(emulator.current.url, {
      path: `/model/${HAIKU_45_PROFILE}/invoke`,
      body: BODY,
      credentials: HAIKU_ONLY,
    });
    expect(ok.status).toBe(200);
  });
});

describe("Bedrock API keys (Authorization: Bearer)", () => {
  const authFailed = {
    status: 403,
    errorType: "AccessDeniedException",
    body: { Message: "Authentication failed: Please make sure your API Key is valid." },
  };

  it("the default long-term key works", async () => {
    const res = await bearer(emulator.current.credentials.apiKey);
    expect(res.status).toBe(200);
    expect(emulator.current.credentials.apiKey.startsWith("ABSK")).toBe(true);
  });

  it("an unknown key with a valid ABSK prefix: 403 'Authentication failed: ...'", async () => {
    expect(
      await answer(await bearer("ABSKQmVkcm9ja0FQSUtleS11bmtub3duLWF0LTEyMzQ1Njc4OTAxMjpzZWNyZXQ=")),
    ).toEqual(authFailed);
  });

  it("a key without the prefix: 403 'Invalid API Key format: Must start with pre-defined prefix'", async () => {
    expect(await answer(await bearer("sk-ant-api03-not-a-bedrock-key"))).toEqual({
      status: 403,
      errorType: "AccessDeniedException",
      body: { Message: "Invalid API Key format: Must start with pre-defined prefix" },
    });
  });

  it("a configured key past its expiry: 403 'Authentication failed: ...'", async () => {
    expect(await answer(await bearer(EXPIRED_API_KEY))).toEqual(authFailed);
  });

  it("a short-term key works, in the region of its credential scope (us-west-2)", async () => {
    emulator.current.resetJournal();
    const res = await bearer(shortTermKey(NOW - MINUTE));
    expect(res.status).toBe(200);
    const records = emulator.current.requests();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ region: "us-west-2", status: 200, identity: "test" });
  });

  it("a short-term key past its 12 hours: 403 'Authentication failed: ...'", async () => {
    expect(await answer(await bearer(shortTermKey(NOW - 13 * 60 * MINUTE)))).toEqual(authFailed);
  });
});

describe("Mantle (/anthropic/v1/messages signed bedrock-mantle): 401 in the Anthropic envelope", () => {
  const mantle = (options: Partial<Parameters<typeof signedFetch>[1]> = {}) =>
    signedFetch(emulator.current.url, {
      path: "/anthropic/v1/messages",
      service: "bedrock-mantle",
      headers: { "anthropic-version": "2023-06-01" },
      body: MANTLE_BODY,
      ...options,
    });

  async function expectAuthError(res: Response, message: string | RegExp): Promise<void> {
    expect(res.status).toBe(401);
    const body = (await res.json()) as { type: string; error: { type: string; message: string } };
    expect(body.type).toBe("error");
    expect(body.error.type).toBe("authentication_error");
    if (typeof message === "string") expect(body.error.message).toBe(message);
    else expect(body.error.message).toMatch(message);
  }

  it("a correctly signed request works (control)", async () => {
    const res = await mantle();
    expect(res.status).toBe(200);
    expect(((await res.json()) as { type: string }).type).toBe("message");
  });

  it("no Authorization", async () => {
    const res = await post("/anthropic/v1/messages", { "anthropic-version": "2023-06-01" }, MANTLE_BODY);
    await expectAuthError(res, "Authorization header is missing");
  });

  it("wrong secret", async () => {
    const res = await mantle({ credentials: { accessKeyId: "test", secretAccessKey: "not-the-secret" } });
    await expectAuthError(res, new RegExp(`^${MISMATCH.replace(/[.?]/g, "\\$&")}`));
  });

  it("unknown access key", async () => {
    const res = await mantle({ credentials: { accessKeyId: "AKIAUNKNOWNKEY00001", secretAccessKey: "x" } });
    await expectAuthError(res, INVALID_TOKEN);
  });

  it("signed for the wrong service", async () => {
    const res = await mantle({ service: "mantle" });
    await expectAuthError(res, "Credential should be scoped to correct service: 'bedrock-mantle'. ");
  });

  it("expired signature", async () => {
    const res = await mantle({ signingDate: new Date(NOW - 10 * MINUTE) });
    await expectAuthError(res, /^Signature expired: /);
  });

  it("unknown API key", async () => {
    const res = await post(
      "/anthropic/v1/messages",
      { authorization: "Bearer ABSKdW5rbm93bi1tYW50bGUta2V5", "anthropic-version": "2023-06-01" },
      MANTLE_BODY,
    );
    await expectAuthError(res, "Authentication failed: Please make sure your API Key is valid.");
  });
});

describe("bedrock-runtime operations other than InvokeModel share the same front door", () => {
  it("CountTokens without Authorization: 403 AccessDeniedException", async () => {
    const body = JSON.stringify({ input: { invokeModel: { body: Buffer.from(BODY).toString("base64") } } });
    const res = await post(`/model/${SONNET_46_FOUNDATION}/count-tokens`, {}, body);
    expect(await answer(res)).toEqual({
      status: 403,
      errorType: "AccessDeniedException",
      body: { Message: "Authorization header is missing" },
    });
  });
});

describe("verifySigV4 against AWS's SigV4 test suite (get-vanilla)", () => {
  const SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  const SIGNATURE = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
  const now = new Date(Date.UTC(2015, 7, 30, 12, 36, 0));
  const options = {
    services: ["service"],
    now,
    lookup: (id: string) => (id === "AKIDEXAMPLE" ? { secretAccessKey: SECRET } : undefined),
  };
  const request = (signature: string, signedHeaders = "host;x-amz-date"): IncomingSignedRequest => ({
    method: "GET",
    rawPath: "/",
    rawQuery: "",
    headers: {
      host: "example.amazonaws.com",
      "x-amz-date": "20150830T123600Z",
      authorization: `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    },
    body: new Uint8Array(),
  });

  it("verifies the published signature", async () => {
    expect(await verifySigV4(request(SIGNATURE), options)).toEqual({
      ok: true,
      accessKeyId: "AKIDEXAMPLE",
      region: "us-east-1",
      service: "service",
      signingDate: now,
    });
  });

  it("refuses the signature with one character changed", async () => {
    const changed = `${SIGNATURE.slice(0, -1)}${SIGNATURE.endsWith("0") ? "1" : "0"}`;
    expect(await verifySigV4(request(changed), options)).toMatchObject({
      ok: false,
      exception: "InvalidSignatureException",
    });
  });

  it("refuses the published signature when the signed header list is changed", async () => {
    expect(await verifySigV4(request(SIGNATURE, "host"), options)).toMatchObject({ ok: false });
  });
});
