/** Model ids newer than the shipped catalog resolve through the region's control plane. */
import { describe, expect, it } from "vitest";
import { createClient } from "../../src/client.js";
import { type CatalogData, ModelCatalog, shippedCatalog } from "../../src/models/catalog.js";
import { OPUS_47_PROFILE, TEST_CREDENTIALS, useEmulator } from "../helpers.js";

const emulator = useEmulator();

/** The shipped catalog without Opus 4.7: the client's view is older than the (emulated) service. */
function olderCatalog(): ModelCatalog {
  const shipped = shippedCatalog();
  const data: CatalogData = {
    updated: shipped.updated,
    defaults: { model: shipped.defaultModel },
    geographies: { ...shipped.geographies },
    mantle: shipped.mantle,
    models: shipped.models.filter((m) => m.anthropicName !== "claude-opus-4-7"),
  };
  return new ModelCatalog(data);
}

function client(discovery: boolean) {
  return createClient({
    region: "us-east-1",
    endpoint: emulator.current.url,
    credentials: TEST_CREDENTIALS,
    catalog: olderCatalog(),
    discovery,
    anthropic: { maxRetries: 0 },
  });
}

const ask = { max_tokens: 20, messages: [{ role: "user" as const, content: "hi" }] };

describe("live model discovery", () => {
  it("accepts a profile id the catalog does not know but the region lists", async () => {
    emulator.current.resetJournal();
    const message = await client(true).messages.create({ model: OPUS_47_PROFILE, ...ask });
    expect(message.model).toBe("claude-opus-4-7");
    const operations = emulator.current.requests().map((r) => r.operation);
    expect(operations).toEqual(["ListInferenceProfiles", "ListFoundationModels", "InvokeModel"]);
  });

  it("maps a foundation id that needs a profile to the region's profile, and caches what it learned", async () => {
    const c = client(true);
    emulator.current.resetJournal();
    await c.messages.create({ model: "anthropic.claude-opus-4-7", ...ask });
    await c.messages.create({ model: "anthropic.claude-opus-4-7", ...ask });
    const records = emulator.current.requests();
    expect(records.filter((r) => r.api === "control-plane")).toHaveLength(2);
    expect(records.filter((r) => r.operation === "InvokeModel").map((r) => r.model)).toEqual([
      "us.anthropic.claude-opus-4-7",
      "us.anthropic.claude-opus-4-7",
    ]);
  });

  it("still refuses names neither the catalog nor the region knows, listing the choices", async () => {
    await expect(
      client(true).messages.create({ model: "us.anthropic.claude-nope-9", ...ask }),
    ).rejects.toMatchObject({
      status: 404,
      message: expect.stringContaining("claude-sonnet-4-6"),
    });
  });

  it("can be turned off", async () => {
    emulator.current.resetJournal();
    await expect(client(false).messages.create({ model: OPUS_47_PROFILE, ...ask })).rejects.toMatchObject({
      status: 404,
    });
    expect(emulator.current.requests()).toHaveLength(0);
  });
});
