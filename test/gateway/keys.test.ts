/**
 * The gateway's virtual keys, end to end: created, used (x-api-key, Bearer), revoked, wrong;
 * stored without secrets; per-key model allowlists, rate limits and budgets enforced before any
 * upstream call, also under concurrency; open mode and its refusal off loopback.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import Anthropic, { AuthenticationError, PermissionDeniedError, RateLimitError } from "@anthropic-ai/sdk";
import { describe, expect, it } from "vitest";
import { GatewayConfigError, startGateway } from "../../src/gateway/index.js";
import { SqliteKeyStore } from "../../src/gateway/keys.js";
import { PriceBook, shippedPrices } from "../../src/usage/prices.js";
import { rejection } from "../helpers.js";
import { emulatorTarget, useGateway } from "./gateway-helpers.js";

const MODEL = "claude-sonnet-4-6";
const harness = useGateway();

const client = (apiKey: string, headers: Record<string, string> = {}) =>
  new Anthropic({ baseURL: harness.gateway.url, apiKey, maxRetries: 0, defaultHeaders: headers });

const ask = (c: Anthropic, model = MODEL, maxTokens = 64) =>
  c.messages.create({ model, max_tokens: maxTokens, messages: [{ role: "user", content: "Hello keys" }] });

/** The error message the gateway wrote (the SDK's own message quotes the JSON body). */
function messageOf(error: unknown): string {
  return String((error as { error?: { error?: { message?: string } } }).error?.error?.message);
}

describe("virtual keys", () => {
  it("a created key works as x-api-key and as Bearer; the ledger records its name under the answer's request-id", async () => {
    const created = harness.gateway.keys.create({ name: "team-a" });
    expect(created.token).toMatch(/^bck-[A-Z2-7]{16}-[\w-]{43}$/);
    expect(created.accessKeyId).toBe(`BCKA${created.key.id}`);

    const viaApiKey = await ask(client(created.token)).withResponse();
    expect(viaApiKey.data.type).toBe("message");
    const requestId = viaApiKey.response.headers.get("request-id");
    expect(requestId).toMatch(/^req_/);

    const bearer = await fetch(`${harness.gateway.url}/v1/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${created.token}`, "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, max_tokens: 32, messages: [{ role: "user", content: "bearer" }] }),
    });
    expect(bearer.status).toBe(200);

    const records = harness.ledger().requests({ since: 0 });
    const recorded = records.find((r) => r.id === requestId);
    expect(recorded?.key).toBe("team-a");
    expect(recorded?.status).toBe(200);
    expect(records.filter((r) => r.key === "team-a")).toHaveLength(2);
  });

  it("keys are stored hashed: neither the token nor the SigV4 secret is in the store's file", () => {
    const created = harness.gateway.keys.create({ name: "stored-hashed" });
    const bytes = readFileSync(path.join(harness.dir, "keys.db"));
    const wal = (() => {
      try {
        return readFileSync(path.join(harness.dir, "keys.db-wal"));
      } catch {
        return Buffer.alloc(0);
      }
    })();
    for (const file of [bytes, wal]) {
      expect(file.includes(Buffer.from(created.token))).toBe(false);
      expect(file.includes(Buffer.from(created.secretAccessKey))).toBe(false);
    }
    // The store still knows the key: by its hash, and the pair's secret by derivation.
    expect(harness.gateway.keys.verifyToken(created.token)?.name).toBe("stored-hashed");
    expect(harness.gateway.keys.signingSecret(created.accessKeyId)?.secretAccessKey).toBe(
      created.secretAccessKey,
    );
  });

  it("a wrong or malformed key is refused with authentication_error, and no upstream call is made", async () => {
    harness.gateway.keys.create({ name: "exists" });
    const before = harness.emulator.requests().length;
    const wrong = await rejection(
      ask(client("bck-AAAAAAAAAAAAAAAA-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")),
    );
    expect(wrong).toBeInstanceOf(AuthenticationError);
    const malformed = await rejection(ask(client("sk-ant-api03-not-ours")));
    expect(malformed).toBeInstanceOf(AuthenticationError);
    expect((malformed as AuthenticationError).requestID).toMatch(/^req_/);
    const none = await fetch(`${harness.gateway.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, max_tokens: 8, messages: [{ role: "user", content: "x" }] }),
    });
    expect(none.status).toBe(401);
    const body = (await none.json()) as { type: string; error: { type: string; message: string } };
    expect(body.type).toBe("error");
    expect(body.error.type).toBe("authentication_error");
    expect(body.error.message).toContain("x-api-key");
    expect(harness.emulator.requests().length).toBe(before);
  });

  it("a revoked key stops working at once", async () => {
    const created = harness.gateway.keys.create({ name: "short-lived" });
    await ask(client(created.token));
    expect(harness.gateway.keys.revoke("short-lived")?.revokedAt).not.toBeNull();
    expect(await rejection(ask(client(created.token)))).toBeInstanceOf(AuthenticationError);
    // The name is free again.
    expect(harness.gateway.keys.create({ name: "short-lived" }).key.name).toBe("short-lived");
  });

  it("a key limited to some models is refused others with permission_error naming them", async () => {
    const created = harness.gateway.keys.create({ name: "haiku-only", models: ["claude-haiku-4-5*"] });
    const haiku = await ask(client(created.token), "claude-haiku-4-5");
    expect(haiku.model).toBe("claude-haiku-4-5-20251001");
    // The same model by its Bedrock id is the same model.
    const before = harness.emulator.requests().length;
    const refused = await rejection(ask(client(created.token), MODEL));
    expect(refused).toBeInstanceOf(PermissionDeniedError);
    expect(messageOf(refused)).toContain('may not use model "claude-sonnet-4-6"');
    expect(messageOf(refused)).toContain("claude-haiku-4-5*");
    expect(harness.emulator.requests().length).toBe(before);
  });

  it("rpm: the request over the limit gets rate_limit_error saying which limit and when it resets", async () => {
    const created = harness.gateway.keys.create({ name: "slow-lane", rpm: 2 });
    const c = client(created.token);
    await ask(c);
    await ask(c);
    const refused = await rejection(ask(c));
    expect(refused).toBeInstanceOf(RateLimitError);
    const error = refused as RateLimitError;
    expect(messageOf(error)).toContain('Key "slow-lane" is over its limit of 2 requests per minute');
    expect(messageOf(error)).toMatch(/resets at \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00\.000Z/);
    const retryAfter = Number(error.headers?.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
  });

  it("tpm: a request whose worst case is over the limit is refused before going upstream", async () => {
    const created = harness.gateway.keys.create({ name: "few-tokens", tpm: 500 });
    const c = client(created.token);
    const refused = await rejection(ask(c, MODEL, 1000));
    expect(refused).toBeInstanceOf(RateLimitError);
    expect(messageOf(refused)).toContain("more than its limit of 500 tokens per minute");
    // A small one fits; what it really used replaces its reservation.
    const fits = await ask(c, MODEL, 100);
    expect(fits.type).toBe("message");
  });

  it("budget: 50 concurrent requests never spend past the key's hard budget; the rest get billing_error", async () => {
    const prices = new PriceBook(shippedPrices());
    const price = prices.priceFor(MODEL, "regional")!;
    // Room for about 10 worst cases (input estimate + max_tokens at the dearest price).
    const maxTokens = 400;
    const worst = ((200 / 4) * price.input + maxTokens * price.output) / 1e6;
    const limitUsd = Number((worst * 10).toFixed(6));
    const created = harness.gateway.keys.create({ name: "capped", budget: { limitUsd, period: "day" } });
    const c = client(created.token);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        c.messages.create({
          model: MODEL,
          max_tokens: maxTokens,
          messages: [{ role: "user", content: `Budget run ${i} [[tokens=300]]` }],
        }),
      ),
    );
    const ok = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r) => r.status === "rejected");
    expect(ok.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      const error = (r as PromiseRejectedResult).reason as { status?: number };
      expect(error.status).toBe(402);
      expect(messageOf(error)).toContain('of key "capped"');
    }
    const spent = harness
      .ledger()
      .requests({ since: 0 })
      .filter((r) => r.key === "capped")
      .reduce((sum, r) => sum + (r.costUsd ?? 0), 0);
    expect(spent).toBeGreaterThan(0);
    expect(spent).toBeLessThanOrEqual(limitUsd);
  });

  it("a request's tag header is recorded with the key's name; /metrics needs the admin key once keys exist", async () => {
    const created = harness.gateway.keys.create({ name: "tagged" });
    const answer = await ask(client(created.token, { "x-bedrock-claude-tag": "checkout" })).withResponse();
    const id = answer.response.headers.get("request-id");
    const record = harness
      .ledger()
      .requests({ since: 0 })
      .find((r) => r.id === id);
    expect(record).toMatchObject({ key: "tagged", tag: "checkout" });
    // A client cannot claim another key's name through the gateway's internal header.
    const spoofed = await ask(
      client(created.token, { "x-bedrock-claude-key": "someone-else" }),
    ).withResponse();
    const spoofedId = spoofed.response.headers.get("request-id");
    expect(
      harness
        .ledger()
        .requests({ since: 0 })
        .find((r) => r.id === spoofedId)?.key,
    ).toBe("tagged");
    const anonymous = await fetch(`${harness.gateway.url}/metrics`);
    expect(anonymous.status).toBe(401);
    const notAdmin = await fetch(`${harness.gateway.url}/metrics`, {
      headers: { "x-api-key": created.token },
    });
    expect(notAdmin.status).toBe(403);
  });

  it("a non-admin key cannot use the admin API; an admin key can, and never sees secrets", async () => {
    const user = harness.gateway.keys.create({ name: "not-admin" });
    const admin = harness.gateway.keys.create({ name: "ops", admin: true });
    const denied = await fetch(`${harness.gateway.url}/admin/keys`, { headers: { "x-api-key": user.token } });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { error: { type: string } }).error.type).toBe("permission_error");
    const listed = await fetch(`${harness.gateway.url}/admin/keys`, {
      headers: { "x-api-key": admin.token },
    });
    expect(listed.status).toBe(200);
    const text = await listed.text();
    expect(text).toContain('"name":"ops"');
    expect(text).not.toContain(admin.token);
    expect(text).not.toContain(admin.secretAccessKey);

    const made = await fetch(`${harness.gateway.url}/admin/keys`, {
      method: "POST",
      headers: { "x-api-key": admin.token, "content-type": "application/json" },
      body: JSON.stringify({ name: "made-over-http", budget: "5/day", rpm: 10 }),
    });
    expect(made.status).toBe(201);
    const createdOverHttp = (await made.json()) as { token: string; key: { budget: unknown; rpm: number } };
    expect(createdOverHttp.key.budget).toEqual({ limitUsd: 5, period: "day" });
    expect((await ask(client(createdOverHttp.token))).type).toBe("message");
    const revoked = await fetch(`${harness.gateway.url}/admin/keys/made-over-http`, {
      method: "DELETE",
      headers: { "x-api-key": admin.token },
    });
    expect(revoked.status).toBe(200);
    expect(await rejection(ask(client(createdOverHttp.token)))).toBeInstanceOf(AuthenticationError);

    const bad = await fetch(`${harness.gateway.url}/admin/keys`, {
      method: "POST",
      headers: { "x-api-key": admin.token, "content-type": "application/json" },
      body: JSON.stringify({ name: "x", budget: "lots" }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain("100/month");

    const usage = await fetch(`${harness.gateway.url}/admin/usage?by=key&since=1d`, {
      headers: { "x-api-key": admin.token },
    });
    const report = (await usage.json()) as { data: { group: { key: string }; requests: number }[] };
    expect(report.data.find((r) => r.group.key === "team-a")?.requests).toBe(2);
  });
});

describe("open mode", () => {
  const open = useGateway();

  it("with no keys on loopback any key or none is accepted, recorded as anonymous", async () => {
    expect(open.gateway.open()).toBe(true);
    const message = await new Anthropic({
      baseURL: open.gateway.url,
      apiKey: "anything",
      maxRetries: 0,
    }).messages
      .create({ model: MODEL, max_tokens: 16, messages: [{ role: "user", content: "open" }] })
      .withResponse();
    const id = message.response.headers.get("request-id");
    expect(
      open
        .ledger()
        .requests({ since: 0 })
        .find((r) => r.id === id)?.key,
    ).toBe("anonymous");
    expect(open.logs.some((l) => String(l.msg).includes("running open on loopback"))).toBe(true);
  });

  it("refuses to start on a non-loopback address without keys, unless told --insecure-no-auth", async () => {
    const keys = new SqliteKeyStore(path.join(open.dir, "empty-keys.db"));
    const options = {
      port: 0,
      host: "0.0.0.0",
      ...emulatorTarget(open.emulator),
      ledger: false as const,
      keys,
      logging: { sink: () => undefined },
    };
    await expect(startGateway(options)).rejects.toBeInstanceOf(GatewayConfigError);
    await expect(startGateway(options)).rejects.toThrow(/without keys/);
    const insecure = await startGateway({ ...options, insecureNoAuth: true });
    expect(insecure.open()).toBe(true);
    await insecure.close();
    keys.create({ name: "now-there-is-one" });
    const withKeys = await startGateway(options);
    expect(withKeys.open()).toBe(false);
    await withKeys.close();
    keys.close();
  });
});
