/** The emulator's routes: bedrock-runtime, the native Messages endpoints, control plane, STS, admin. */
import { Hono } from "hono";
import { clearFaults, getFaults, getRequests, getUsage, resetJournal, setFaults } from "./admin.js";
import {
  getFoundationModel,
  getFoundationModelAvailability,
  getInferenceProfile,
  listFoundationModels,
  listInferenceProfiles,
} from "./control-plane.js";
import { EmulatorError } from "./errors.js";
import { awsErrorResponse, type NodeBindings } from "./http.js";
import {
  anthropicCountTokens,
  anthropicMessages,
  converse,
  countTokensBedrock,
  invokeModel,
  nativeMessages,
} from "./runtime-routes.js";
import type { EmulatorState } from "./state.js";
import { sts } from "./sts.js";

export function createEmulatorApp(state: EmulatorState): Hono<{ Bindings: NodeBindings }> {
  const app = new Hono<{ Bindings: NodeBindings }>();
  // The Date header follows the emulator's clock (which tests may set off), as clients and the
  // doctor read clock skew from it.
  app.use("*", async (c, next) => {
    await next();
    c.res.headers.set("date", new Date(state.now()).toUTCString());
  });

  app.post("/model/:modelId/invoke", (c) => invokeModel(c, state, false));
  app.post("/model/:modelId/invoke-with-response-stream", (c) => invokeModel(c, state, true));
  app.post("/model/:modelId/converse", (c) => converse(c, state, false));
  app.post("/model/:modelId/converse-stream", (c) => converse(c, state, true));
  app.post("/model/:modelId/count-tokens", (c) => countTokensBedrock(c, state));

  app.post("/anthropic/v1/messages", (c) => nativeMessages(c, state));
  app.post("/v1/messages", (c) => anthropicMessages(c, state));
  app.post("/v1/messages/count_tokens", (c) => anthropicCountTokens(c, state));

  app.get("/foundation-models", (c) => listFoundationModels(c, state));
  app.get("/foundation-models/:modelId", (c) => getFoundationModel(c, state));
  app.get("/foundation-model-availability/:modelId", (c) => getFoundationModelAvailability(c, state));
  app.get("/inference-profiles", (c) => listInferenceProfiles(c, state));
  app.get("/inference-profiles/:profileId", (c) => getInferenceProfile(c, state));

  app.post("/", (c) => sts(c, state));
  app.get("/", (c) =>
    c.req.query("Action") ? sts(c, state) : c.json({ service: "bedrock-claude emulator" }),
  );

  app.get("/_emulator/faults", (c) => getFaults(c, state));
  app.post("/_emulator/faults", (c) => setFaults(c, state));
  app.delete("/_emulator/faults", (c) => clearFaults(c, state));
  app.get("/_emulator/requests", (c) => getRequests(c, state));
  app.delete("/_emulator/requests", (c) => resetJournal(c, state));
  app.get("/_emulator/usage", (c) => getUsage(c, state));
  app.delete("/_emulator/usage", (c) => resetJournal(c, state));
  app.get("/_emulator/health", (c) => c.json({ ok: true }));

  app.notFound((c) =>
    awsErrorResponse(
      new EmulatorError(
        "UnknownOperationException",
        `No operation at ${c.req.method} ${new URL(c.req.url).pathname}`,
      ),
      state.nextRequestId(),
    ),
  );
  app.onError((error) => {
    console.error("[emulator] unexpected error:", error);
    return awsErrorResponse(
      new EmulatorError(
        "InternalServerException",
        "The system encountered an unexpected error during processing. Try your request again.",
      ),
      state.nextRequestId(),
    );
  });
  return app;
}
