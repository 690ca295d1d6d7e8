/**
 * The admin API (admin key required): key management over HTTP, usage queries on the ledger,
 * budget states; and the dashboard, which reads the same data. JSON in, JSON out; errors in the
 * Anthropic shape like the rest of the gateway.
 */
import type { Hono } from "hono";
import { z } from "zod";
import { parseBy, parseWhen } from "../cli/usage.js";
import type { LedgerStore } from "../usage/ledger.js";
import type { AdminHelpers, GatewayContext, GatewayEnv } from "./app.js";
import { mountDashboard } from "./dashboard.js";
import type { KeyBudgets } from "./key-budgets.js";
import { type KeyStore, parseBudget } from "./keys.js";

export interface AdminDeps {
  keys: KeyStore;
  ledger: LedgerStore | undefined;
  budgets: KeyBudgets;
  breakerStates: () => Record<string, string>;
}

const newKeySchema = z
  .object({
    name: z.string(),
    models: z.array(z.string()).optional(),
    rpm: z.number().positive().optional(),
    tpm: z.number().positive().optional(),
    budget: z
      .union([
        z.string(),
        z.object({ limitUsd: z.number().positive(), period: z.enum(["day", "month"]) }).strict(),
      ])
      .optional(),
    admin: z.boolean().optional(),
  })
  .strict();

type AnyContext = GatewayContext;

export function mountAdmin(app: Hono<GatewayEnv>, helpers: AdminHelpers, deps: AdminDeps): void {
  const guarded =
    (handler: (c: AnyContext) => Response | Promise<Response>) =>
    async (c: AnyContext): Promise<Response> =>
      (await helpers.requireAdmin(c)) ?? handler(c);

  app.get(
    "/admin/keys",
    guarded((c) => c.json({ data: deps.keys.list({ includeRevoked: c.req.query("revoked") === "true" }) })),
  );

  app.post(
    "/admin/keys",
    guarded(async (c) => {
      let input: z.infer<typeof newKeySchema>;
      try {
        input = newKeySchema.parse(await c.req.json());
      } catch (error) {
        const message =
          error instanceof z.ZodError
            ? error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")
            : "The request body is not valid JSON.";
        return helpers.anthropicError("invalid_request_error", message);
      }
      try {
        const budget = typeof input.budget === "string" ? parseBudget(input.budget) : input.budget;
        const created = deps.keys.create({ ...input, budget: budget ?? null });
        return c.json(created, 201);
      } catch (error) {
        // A taken name, a bad budget or limit: the caller's to fix.
        return helpers.anthropicError("invalid_request_error", (error as Error).message);
      }
    }),
  );

  app.delete(
    "/admin/keys/:id",
    guarded((c) => {
      const revoked = deps.keys.revoke(c.req.param("id") ?? "");
      if (!revoked) return helpers.anthropicError("not_found_error", `No active key "${c.req.param("id")}".`);
      return c.json(revoked);
    }),
  );

  app.get(
    "/admin/usage",
    guarded((c) => {
      if (!deps.ledger)
        return helpers.anthropicError("not_found_error", "The ledger is off on this gateway.");
      try {
        const now = Date.now();
        const since = parseWhen(c.req.query("since") ?? "30d", now, "since");
        const until = parseWhen(c.req.query("until") ?? "now", now, "until");
        const by = parseBy(c.req.query("by"));
        const rows = deps.ledger.report({
          since,
          until,
          by,
          key: c.req.query("key"),
          tag: c.req.query("tag"),
          model: c.req.query("model"),
        });
        return c.json({
          since: new Date(since).toISOString(),
          until: new Date(until).toISOString(),
          by,
          data: rows,
        });
      } catch (error) {
        return helpers.anthropicError("invalid_request_error", (error as Error).message);
      }
    }),
  );

  app.get(
    "/admin/budgets",
    guarded((c) => c.json({ data: deps.budgets.status() })),
  );

  mountDashboard(app, helpers, deps);
}
