/**
 * The emulator's own admin API (not AWS): faults, the request log and billed usage, for tests
 * and demos. JSON in, JSON out; unauthenticated, as the emulator only listens on loopback by default.
 */
import { faultSpecSchema } from "./config.js";
import { type EmulatorContext, jsonResponse } from "./http.js";
import type { EmulatorState } from "./state.js";

function badRequest(message: string): Response {
  return jsonResponse({ error: { type: "invalid_request", message } }, 400);
}

export async function setFaults(c: EmulatorContext, state: EmulatorState): Promise<Response> {
  let json: unknown;
  try {
    json = await c.req.json();
  } catch {
    return badRequest('body must be JSON: {"seed"?: n, "rules": [...]}');
  }
  const parsed = faultSpecSchema.safeParse(Array.isArray(json) ? { rules: json } : json);
  if (!parsed.success) {
    return badRequest(
      parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; "),
    );
  }
  state.faults.set(parsed.data);
  return jsonResponse(state.faults.current());
}

export function getFaults(_c: EmulatorContext, state: EmulatorState): Response {
  return jsonResponse(state.faults.current());
}

export function clearFaults(_c: EmulatorContext, state: EmulatorState): Response {
  state.faults.clear();
  return jsonResponse(state.faults.current());
}

export function getRequests(c: EmulatorContext, state: EmulatorState): Response {
  const limit = Number(c.req.query("limit") ?? "0");
  const all = state.journal.requests();
  return jsonResponse({ requests: limit > 0 ? all.slice(-limit) : all });
}

export function getUsage(_c: EmulatorContext, state: EmulatorState): Response {
  const byModel = state.journal.usageTotals();
  const totals = byModel.reduce(
    (t, u) => ({
      requests: t.requests + u.requests,
      inputTokens: t.inputTokens + u.inputTokens,
      outputTokens: t.outputTokens + u.outputTokens,
      cacheReadInputTokens: t.cacheReadInputTokens + u.cacheReadInputTokens,
      cacheWriteInputTokens: t.cacheWriteInputTokens + u.cacheWriteInputTokens,
    }),
    { requests: 0, inputTokens: 0, outputTokens: 0, cacheReadInputTokens: 0, cacheWriteInputTokens: 0 },
  );
  return jsonResponse({ totals, byModel });
}

/** Clears the request log and usage totals (faults stay). */
export function resetJournal(_c: EmulatorContext, state: EmulatorState): Response {
  state.journal.clear();
  return jsonResponse({ ok: true });
}
