/**
 * The verifier on its own: some clients sign the `host` header without the port although the
 * endpoint has one; a signature over either form must verify, and only those two.
 */
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import { describe, expect, it } from "vitest";
import { type IncomingSignedRequest, verifySigV4 } from "./sigv4-verify.js";

const NOW = new Date("2026-11-25T12:00:00Z");
const SECRET = { secretAccessKey: "unit-secret" };
const PATH = "/model/us.anthropic.claude-sonnet-4-6/converse";
const BODY = new TextEncoder().encode('{"messages":[]}');

/** Signs as a client that puts `signedHost` in the host header it signs, then arrives with `arrivedHost`. */
async function request(signedHost: string, arrivedHost: string): Promise<IncomingSignedRequest> {
  const signer = new SignatureV4({
    service: "bedrock",
    region: "us-east-1",
    credentials: { accessKeyId: "AKIAUNIT", ...SECRET },
    sha256: Hash.bind(null, "sha256"),
  });
  const signed = await signer.sign(
    {
      method: "POST",
      protocol: "http:",
      hostname: signedHost.replace(/:\d+$/, ""),
      path: PATH,
      query: {},
      headers: { host: signedHost, "content-type": "application/json" },
      body: BODY,
    },
    { signingDate: NOW },
  );
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) headers[name.toLowerCase()] = String(value);
  headers.host = arrivedHost;
  return { method: "POST", rawPath: PATH, rawQuery: "", headers, body: BODY };
}

function verify(req: IncomingSignedRequest) {
  return verifySigV4(req, {
    services: ["bedrock"],
    lookup: (id) => (id === "AKIAUNIT" ? SECRET : undefined),
    now: NOW,
  });
}

describe("verifySigV4 and the host's port", () => {
  it("accepts a signature over the host as sent, port included", async () => {
    expect(await verify(await request("127.0.0.1:4010", "127.0.0.1:4010"))).toMatchObject({ ok: true });
  });

  it("accepts a signature over the host without its port", async () => {
    expect(await verify(await request("127.0.0.1", "127.0.0.1:4010"))).toMatchObject({
      ok: true,
      region: "us-east-1",
      service: "bedrock",
    });
  });

  it("refuses a signature over another host or another port", async () => {
    for (const signedHost of ["localhost", "127.0.0.1:4011"]) {
      const result = await verify(await request(signedHost, "127.0.0.1:4010"));
      expect(result).toMatchObject({ ok: false, exception: "InvalidSignatureException" });
    }
  });

  it("does not invent a port: a signature with a port fails for a host that arrived without one", async () => {
    const result = await verify(await request("127.0.0.1:4010", "127.0.0.1"));
    expect(result).toMatchObject({ ok: false, exception: "InvalidSignatureException" });
  });
});
