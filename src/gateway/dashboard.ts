/**
 * The dashboard at `/`: spend and tokens over time by model, key and region, top keys, error and
 * throttle rates, time to first byte, breaker states and budget burn, drawn with uPlot from
 * `GET /admin/dashboard.json`.
 *
 * It needs the admin key. A browser cannot send a header on a page load, so `/` without one
 * shows a login form; `POST /dashboard/login` checks the key by the gateway's own rules and sets
 * a session cookie (HttpOnly, SameSite=Strict) holding a random id kept in memory for 12 hours,
 * never the key. The page's data requests carry the cookie; `x-api-key` / Bearer work as on every
 * admin route. A session ends at logout, at expiry, or when its key is revoked or loses admin.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { parseWhen } from "../cli/usage.js";
import type { AdminDeps } from "./admin.js";
import type { AdminHelpers, GatewayContext, GatewayEnv } from "./app.js";
import { ANONYMOUS } from "./auth.js";
import { CLIENT_CSS, CLIENT_JS } from "./dashboard/client.js";
import { dashboardData, MAX_WINDOW_MS } from "./dashboard/data.js";
import { type AssetUrls, dashboardPage, loginPage } from "./dashboard/page.js";

export const SESSION_COOKIE = "bc_dashboard";
export const SESSION_TTL_MS = 12 * 3_600_000;
/** Sessions kept at most (the oldest go first): memory stays bounded whatever happens. */
const MAX_SESSIONS = 1_000;

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

const PAGE_HEADERS: Record<string, string> = {
  "content-security-policy": CSP,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "cache-control": "no-store",
};

interface Asset {
  body: Buffer;
  type: string;
}

/** uPlot from node_modules and the page's own script and style, read once, named by content hash. */
let assets: { files: Map<string, Asset>; urls: AssetUrls } | undefined;

function loadAssets(): { files: Map<string, Asset>; urls: AssetUrls } {
  if (assets) return assets;
  const require = createRequire(import.meta.url);
  const files = new Map<string, Asset>();
  const add = (base: string, ext: "js" | "css", body: Buffer) => {
    const hash = createHash("sha256").update(body).digest("hex").slice(0, 12);
    const name = `${base}.${hash}.${ext}`;
    files.set(name, {
      body,
      type: ext === "js" ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8",
    });
    return `/dashboard/assets/${name}`;
  };
  const urls: AssetUrls = {
    uplotJs: add("uplot", "js", readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js"))),
    uplotCss: add("uplot", "css", readFileSync(require.resolve("uplot/dist/uPlot.min.css"))),
    appJs: add("dashboard", "js", Buffer.from(CLIENT_JS)),
    appCss: add("dashboard", "css", Buffer.from(CLIENT_CSS)),
  };
  assets = { files, urls };
  return assets;
}

interface Session {
  expiresAt: number;
  /** The virtual key that logged in; null for the static admin key. */
  keyId: string | null;
}

const sessionHash = (id: string) => createHash("sha256").update(id).digest("base64url");

/** A form post from another site is refused (the cookie is SameSite=Strict; this covers login). */
function sameOrigin(c: GatewayContext): boolean {
  if (c.req.header("sec-fetch-site") === "cross-site") return false;
  const origin = c.req.header("origin");
  if (origin === undefined) return true;
  try {
    const host = new URL(origin).host;
    return host === c.req.header("host") || host === c.req.header("x-forwarded-host");
  } catch {
    return false;
  }
}

function html(body: string, status: number): Response {
  return new Response(body, {
    status,
    headers: { ...PAGE_HEADERS, "content-type": "text/html; charset=utf-8" },
  });
}

export function mountDashboard(app: Hono<GatewayEnv>, helpers: AdminHelpers, deps: AdminDeps): void {
  const sessions = new Map<string, Session>();

  const sessionOf = (c: GatewayContext): Session | undefined => {
    const id = getCookie(c, SESSION_COOKIE);
    if (!id) return undefined;
    const hash = sessionHash(id);
    const session = sessions.get(hash);
    if (!session) return undefined;
    const stillAdmin =
      session.keyId === null || deps.keys.list().some((k) => k.id === session.keyId && k.admin);
    if (session.expiresAt <= Date.now() || !stillAdmin) {
      sessions.delete(hash);
      return undefined;
    }
    return session;
  };

  /** The session cookie, else the admin key as on every admin route (open mode lets anyone in). */
  const authorize = async (c: GatewayContext): Promise<Response | undefined> =>
    sessionOf(c) ? undefined : helpers.requireAdmin(c);

  app.get("/", async (c) => {
    const session = sessionOf(c);
    const refusal = session ? undefined : await helpers.requireAdmin(c);
    const { urls } = loadAssets();
    if (!refusal) return html(dashboardPage(urls, session !== undefined), 200);
    const message = refusal.status === 403 ? "This key is not an admin key." : undefined;
    return html(loginPage(urls.appCss, message), refusal.status);
  });

  app.get("/dashboard/assets/:name", (c) => {
    const asset = loadAssets().files.get(c.req.param("name"));
    if (!asset)
      return helpers.anthropicError("not_found_error", `No dashboard asset "${c.req.param("name")}".`);
    return new Response(new Uint8Array(asset.body), {
      headers: {
        "content-type": asset.type,
        "cache-control": "public, max-age=31536000, immutable",
        "x-content-type-options": "nosniff",
      },
    });
  });

  app.post("/dashboard/login", async (c) => {
    const { urls } = loadAssets();
    if (!sameOrigin(c)) return html(loginPage(urls.appCss, "Log in from the gateway's own page."), 403);
    let key = "";
    try {
      const form = await c.req.parseBody();
      key = typeof form.key === "string" ? form.key.trim() : "";
    } catch {
      key = "";
    }
    if (!key || key.length > 4096) return html(loginPage(urls.appCss, "Give the admin key."), 401);
    const caller = await helpers.authenticateToken(key);
    if (!caller.ok) return html(loginPage(urls.appCss, "That key is not valid."), 401);
    if (!caller.admin) return html(loginPage(urls.appCss, "This key is not an admin key."), 403);
    // Open mode (no keys exist, loopback): the page needs no session.
    if (caller.key === null && caller.name === ANONYMOUS) return c.redirect("/", 303);

    const now = Date.now();
    for (const [hash, s] of sessions) if (s.expiresAt <= now) sessions.delete(hash);
    while (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value!);
    const id = randomBytes(32).toString("base64url");
    sessions.set(sessionHash(id), { expiresAt: now + SESSION_TTL_MS, keyId: caller.key?.id ?? null });
    setCookie(c, SESSION_COOKIE, id, {
      httpOnly: true,
      sameSite: "Strict",
      path: "/",
      maxAge: SESSION_TTL_MS / 1000,
      secure: c.req.header("x-forwarded-proto") === "https" || new URL(c.req.url).protocol === "https:",
    });
    return c.redirect("/", 303);
  });

  app.post("/dashboard/logout", (c) => {
    if (!sameOrigin(c)) return helpers.anthropicError("permission_error", "Cross-site logout refused.");
    const id = getCookie(c, SESSION_COOKIE);
    if (id) sessions.delete(sessionHash(id));
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return c.redirect("/", 303);
  });

  app.get("/admin/dashboard.json", async (c) => {
    const refusal = await authorize(c);
    if (refusal) return refusal;
    let window: { since: number; until: number };
    try {
      const now = Date.now();
      window = {
        since: parseWhen(c.req.query("since") ?? "7d", now, "since"),
        until: parseWhen(c.req.query("until") ?? "now", now, "until"),
      };
    } catch (error) {
      return helpers.anthropicError("invalid_request_error", (error as Error).message);
    }
    if (window.since >= window.until)
      return helpers.anthropicError("invalid_request_error", "since must be before until.");
    if (window.until - window.since > MAX_WINDOW_MS)
      return helpers.anthropicError(
        "invalid_request_error",
        `The dashboard draws at most ${MAX_WINDOW_MS / 86_400_000} days; use /admin/usage for longer reports.`,
      );
    return c.json(dashboardData(deps, window), 200, { "cache-control": "no-store" });
  });
}
