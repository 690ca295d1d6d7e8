/**
 * The dashboard, end to end: a gateway in front of the emulator takes real traffic (the official
 * Anthropic SDK, several keys and models, streaming and not, throttles from a fault rule), older
 * days are seeded into its ledger, and headless Chromium logs in through the form with the admin
 * key and reads the page: totals, charts, top keys, rates, time to first byte, budget burn and
 * breakers must equal what the ledger and the gateway say. A screenshot is kept in
 * test-artifacts/dashboard.png. Also: the JSON needs the admin key or the session, the cookie
 * holds no key, ledger text is shown as text, logout ends the session.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import Anthropic, { RateLimitError } from "@anthropic-ai/sdk";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CreatedKey } from "../../src/gateway/keys.js";
import type { LedgerAttempt, LedgerRequest } from "../../src/usage/ledger.js";
import { useGateway } from "./gateway-helpers.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));
const EVIL = `<img src=x onerror="alert('key')">`;

/** Chromium: CHROMIUM_PATH, else `chromium` on the PATH (Debian's package), else the usual places. */
function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH];
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      candidates.push(execFileSync("which", [name], { encoding: "utf8" }).trim());
    } catch {
      // not on the PATH
    }
  }
  candidates.push("/usr/bin/chromium", "/usr/bin/chromium-browser");
  const found = candidates.find((c) => c && existsSync(c));
  if (!found) {
    throw new Error(
      "The dashboard test needs Chromium: install it (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH.",
    );
  }
  return found;
}

// The page's own formats (src/gateway/dashboard/client.ts).
const usd = (v: number) => `$${v.toFixed(v !== 0 && Math.abs(v) < 1 ? 4 : 2)}`;
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const count = (v: number) => Math.round(v).toLocaleString("en-US");

function nearestRank(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

const throttledAttempt = (a: { status: number | null; errorName: string | null }) =>
  a.status === 429 || (a.errorName ?? "").includes("Throttling");

function attempt(over: Partial<LedgerAttempt> = {}): LedgerAttempt {
  return {
    attempt: 1,
    target: "bedrock eu-central-1",
    provider: "bedrock",
    region: "eu-central-1",
    status: 200,
    errorName: null,
    verdict: "success",
    latencyMs: 900,
    inputTokens: 0,
    outputTokens: 0,
    cacheWriteTokens: 0,
    cacheWrite1hTokens: 0,
    cacheReadTokens: 0,
    costUsd: null,
    ...over,
  };
}

function seeded(id: string, time: number, over: Partial<LedgerRequest> = {}): LedgerRequest {
  return {
    id,
    time,
    stream: false,
    provider: "bedrock",
    region: "eu-central-1",
    target: "bedrock eu-central-1",
    modelRequested: "claude-opus-4-1",
    modelResolved: "eu.anthropic.claude-opus-4-1-20250805-v1:0",
    anthropicName: "claude-opus-4-1-20250805",
    upstreamRequestId: null,
    key: "batch-jobs",
    tag: null,
    status: 200,
    errorName: null,
    stopReason: "end_turn",
    partial: false,
    inputTokens: 100_000,
    outputTokens: 5_000,
    cacheWriteTokens: 0,
    cacheWrite1hTokens: 0,
    cacheReadTokens: 20_000,
    costUsd: 2.5,
    firstByteMs: 850,
    totalMs: 6_000,
    attempts: [attempt()],
    failover: false,
    ...over,
  };
}

const harness = useGateway(() => ({
  // Breakers on (their states are on the page), but never tripped by the test's throttles.
  resilience: { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 1_000, minRequests: 1_000 } },
}));

let admin: CreatedKey;
let alpha: CreatedKey;
let beta: CreatedKey;
let browser: Browser;

const client = (key: CreatedKey) =>
  new Anthropic({ baseURL: harness.gateway.url, apiKey: key.token, maxRetries: 0 });

async function ask(key: CreatedKey, model: string, stream: boolean): Promise<void> {
  const params = {
    model,
    max_tokens: 64,
    messages: [{ role: "user" as const, content: `Hello dashboard from ${key.key.name}` }],
  };
  if (stream) await client(key).messages.stream(params).finalMessage();
  else await client(key).messages.create(params);
}

beforeAll(async () => {
  const keys = harness.gateway.keys;
  admin = keys.create({ name: "ops-admin", admin: true });
  alpha = keys.create({ name: "team-alpha", budget: { limitUsd: 5, period: "day" } });
  beta = keys.create({ name: "team-beta" });

  await ask(alpha, "claude-sonnet-4-6", false);
  await ask(alpha, "claude-sonnet-4-6", false);
  await ask(alpha, "claude-haiku-4-5-20251001", true);
  await ask(alpha, "claude-haiku-4-5-20251001", true);
  await ask(beta, "claude-haiku-4-5-20251001", false);
  await ask(beta, "claude-sonnet-4-6", true);
  harness.emulator.setFaults({ rules: [{ error: "ThrottlingException", rate: 1 }] });
  try {
    for (const stream of [false, true]) {
      await expect(ask(beta, "claude-sonnet-4-6", stream)).rejects.toBeInstanceOf(RateLimitError);
    }
  } finally {
    harness.emulator.clearFaults();
  }

  // Older days, another region and model; one key name is markup; one request was throttled and
  // retried (its throttle is only in its attempts).
  const now = Date.now();
  const ledger = harness.ledger();
  ledger.record(seeded("seed-1", now - 5 * DAY, { costUsd: 3 }));
  ledger.record(seeded("seed-2", now - 3 * DAY + HOUR));
  ledger.record(
    seeded("seed-3", now - 2 * DAY, {
      key: EVIL,
      costUsd: 0.75,
      firstByteMs: 1_200,
      attempts: [
        attempt({ status: 429, errorName: "ThrottlingException", verdict: "retry", latencyMs: 40 }),
        attempt({ attempt: 2 }),
      ],
    }),
  );
  ledger.record(
    seeded("seed-4", now - 2 * DAY + 2 * HOUR, {
      status: 500,
      errorName: "InternalServerException",
      costUsd: 0,
      inputTokens: 0,
      outputTokens: 0,
      cacheReadTokens: 0,
      firstByteMs: 300,
    }),
  );

  browser = await chromium.launch({ executablePath: chromiumPath(), args: ["--no-sandbox"] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${harness.gateway.url}${path}`, { headers, redirect: "manual" });

describe("the dashboard's access", () => {
  it("the JSON needs the admin key: none is 401, a key without admin is 403, the admin key is 200", async () => {
    expect((await get("/admin/dashboard.json")).status).toBe(401);
    expect((await get("/admin/dashboard.json", { "x-api-key": beta.token })).status).toBe(403);
    const ok = await get("/admin/dashboard.json?since=24h", { authorization: `Bearer ${admin.token}` });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { bucket: string }).bucket).toBe("hour");
    expect((await get("/admin/dashboard.json?since=400d", { "x-api-key": admin.token })).status).toBe(400);
  });

  it("/ without a key is the login form, with a CSP; uPlot is served from node_modules, cached for good", async () => {
    const page = await get("/");
    expect(page.status).toBe(401);
    const html = await page.text();
    expect(html).toContain('action="/dashboard/login"');
    expect(html).not.toContain("team-alpha");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(page.headers.get("content-security-policy")).not.toContain("unsafe-inline");

    const withAdmin = await (await get("/", { "x-api-key": admin.token })).text();
    const script = /src="(\/dashboard\/assets\/uplot\.[0-9a-f]{12}\.js)"/.exec(withAdmin)?.[1];
    expect(script).toBeDefined();
    const asset = await get(script!);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(await asset.text()).toContain("uPlot");
  });

  it("a login form posted from another site is refused", async () => {
    const response = await fetch(`${harness.gateway.url}/dashboard/login`, {
      method: "POST",
      headers: { origin: "https://evil.example", "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ key: admin.token }),
      redirect: "manual",
    });
    expect(response.status).toBe(403);
    expect(response.headers.get("set-cookie")).toBeNull();
  });
});

describe("the dashboard in Chromium", () => {
  let page: Page;
  const errors: string[] = [];
  const dialogs: string[] = [];

  it("refuses a key without admin at the login form, then logs in with the admin key and draws", async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    page = await context.newPage();
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const first = await page.goto(`${harness.gateway.url}/`);
    expect(first?.status()).toBe(401);
    await page.fill("input[name=key]", beta.token);
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    expect(await page.textContent(".error")).toBe("This key is not an admin key.");

    // From here on, the console must stay clean (a CSP violation or a script error lands there).
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(e.message));
    await page.fill("input[name=key]", admin.token);
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    await page.waitForSelector("body[data-loaded=true]", { timeout: 15_000 });

    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "bc_dashboard");
    expect(session).toBeDefined();
    expect(session!.httpOnly).toBe(true);
    expect(session!.sameSite).toBe("Strict");
    expect(session!.value).not.toContain(admin.token);
    expect(session!.value).not.toContain(admin.key.id);
    expect(session!.expires * 1000 - Date.now()).toBeGreaterThan(11.9 * HOUR);
    expect(session!.expires * 1000 - Date.now()).toBeLessThanOrEqual(12 * HOUR);
  });

  it("shows the ledger's totals, rates and time to first byte", async () => {
    const ledger = harness.ledger();
    const total = ledger.report({ since: 0 })[0]!;
    const all = ledger.requests({ since: 0 });
    expect(all.length).toBe(12);
    expect(total.costUsd).toBeGreaterThan(6);

    expect(await page.textContent("#total-spend")).toBe(usd(total.costUsd));
    expect(await page.textContent("#total-requests")).toBe(count(total.requests));
    const tokens = total.inputTokens + total.outputTokens + total.cacheWriteTokens + total.cacheReadTokens;
    expect(await page.textContent("#total-tokens")).toBe(count(tokens));
    expect(total.errors).toBe(3);
    expect(await page.textContent("#error-rate")).toBe(pct(3 / 12));

    // Throttles: the two refused by the fault rule, and the seeded one retried away.
    const throttled = all.filter((r) => throttledAttempt(r) || r.attempts.some(throttledAttempt));
    expect(throttled.length).toBe(3);
    expect(await page.textContent("#throttle-rate")).toBe(pct(3 / 12));

    const ttfb = all
      .filter((r) => r.status < 400 && r.firstByteMs !== null)
      .map((r) => r.firstByteMs!)
      .sort((a, b) => a - b);
    expect(ttfb.length).toBe(9);
    expect(await page.textContent("#ttfb")).toBe(
      `${Math.round(nearestRank(ttfb, 50))} ms / ${Math.round(nearestRank(ttfb, 95))} ms`,
    );
  });

  it("draws eight uPlot charts, split by model, key and region", async () => {
    for (const id of [
      "chart-spend-model",
      "chart-spend-key",
      "chart-spend-region",
      "chart-tokens-model",
      "chart-tokens-key",
      "chart-tokens-region",
      "chart-rates",
      "chart-ttfb",
    ]) {
      expect(await page.locator(`#${id} .uplot canvas`).count(), id).toBe(1);
    }
    const legend = async (id: string) =>
      (await page.locator(`#${id} .u-legend .u-series .u-label`).allTextContents()).slice(1).sort();
    const ledger = harness.ledger();
    const namesBy = (by: "model" | "key" | "region") =>
      ledger
        .report({ since: 0, by: [by] })
        .map((r) => r.group[by] ?? "(no key)")
        .sort();
    expect(await legend("chart-spend-key")).toEqual(namesBy("key"));
    expect(await legend("chart-spend-key")).toEqual(["batch-jobs", "team-alpha", "team-beta", EVIL].sort());
    expect(await legend("chart-tokens-region")).toEqual(["eu-central-1", "us-west-2"]);
    expect(await legend("chart-spend-model")).toEqual(namesBy("model"));
    expect((await legend("chart-spend-model")).length).toBe(3);
    expect(await legend("chart-ttfb")).toEqual(["p50", "p95"]);
  });

  it("lists top keys by spend (names shown as text), budget burn and breaker states", async () => {
    const rows = await page
      .locator("#top-keys tbody tr")
      .evaluateAll((trs) =>
        trs.map((tr) => [...(tr as HTMLTableRowElement).cells].map((td) => td.textContent)),
      );
    const byKey = harness
      .ledger()
      .report({ since: 0, by: ["key"] })
      .sort((a, b) => b.costUsd - a.costUsd);
    expect(rows.map((r) => r[0])).toEqual(byKey.map((r) => r.group.key));
    expect(rows[0]![0]).toBe("batch-jobs");
    expect(rows[0]![1]).toBe(usd(5.5));
    expect(rows.map((r) => r[0])).toContain(EVIL);
    expect(await page.locator("#top-keys img").count()).toBe(0);
    expect(dialogs).toEqual([]);

    const budgets = (await (await get("/admin/budgets", { "x-api-key": admin.token })).json()) as {
      data: { label: string; spentUsd: number; reservedUsd: number; limitUsd: number }[];
    };
    const alphaBudget = budgets.data.find((b) => b.label.includes('"team-alpha"'));
    expect(alphaBudget).toBeDefined();
    expect(alphaBudget!.spentUsd).toBeGreaterThan(0);
    const budgetRow = page.locator("#budgets tbody tr", { hasText: '"team-alpha"' });
    const cells = await budgetRow.locator("td").allTextContents();
    expect(cells[0]).toBe(alphaBudget!.label);
    expect(cells[2]).toBe(usd(alphaBudget!.spentUsd));
    expect(cells[3]).toBe(usd(alphaBudget!.reservedUsd));
    expect(cells[4]).toBe("$5.00");
    expect(cells[6]).toBe(pct((alphaBudget!.spentUsd + alphaBudget!.reservedUsd) / 5));
    expect(await budgetRow.locator(".bar .fill").count()).toBe(1);

    const states = harness.gateway.controls.breakerStates!();
    expect(Object.keys(states).length).toBeGreaterThan(0);
    const breakerRows = await page
      .locator("#breakers tbody tr")
      .evaluateAll((trs) =>
        trs.map((tr) => [...(tr as HTMLTableRowElement).cells].map((td) => td.textContent)),
      );
    expect(breakerRows).toEqual(Object.entries(states).map(([target, state]) => [target, state]));
    expect(Object.values(states)).toContain("closed");
  });

  it("keeps a screenshot; the console stayed clean", async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = `${ARTIFACTS}dashboard.png`;
    await page.screenshot({ path: file, fullPage: true });
    expect(existsSync(file)).toBe(true);
    expect(errors).toEqual([]);
  });

  it("logout ends the session: the old cookie no longer opens the JSON", async () => {
    const cookie = (await page.context().cookies()).find((c) => c.name === "bc_dashboard")!;
    const withCookie = () => get("/admin/dashboard.json", { cookie: `bc_dashboard=${cookie.value}` });
    expect((await withCookie()).status).toBe(200);
    await Promise.all([page.waitForNavigation(), page.click("text=Log out")]);
    expect(await page.locator("input[name=key]").count()).toBe(1);
    expect((await withCookie()).status).toBe(401);
    expect((await page.context().cookies()).find((c) => c.name === "bc_dashboard")).toBeUndefined();
  });
});
