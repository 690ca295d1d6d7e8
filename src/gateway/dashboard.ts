/** The dashboard at `/` (being built). */
import type { Hono } from "hono";
import type { AdminDeps } from "./admin.js";
import type { AdminHelpers, GatewayEnv } from "./app.js";

export function mountDashboard(app: Hono<GatewayEnv>, helpers: AdminHelpers, _deps: AdminDeps): void {
  app.get("/", async (c) => (await helpers.requireAdmin(c)) ?? c.html("<h1>bedrock-claude gateway</h1>"));
}
