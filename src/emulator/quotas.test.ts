import { describe, expect, it } from "vitest";
import { QuotaTracker } from "./quotas.js";

describe("QuotaTracker", () => {
  it("counts requests over a sliding minute", () => {
    let now = 0;
    const quotas = new QuotaTracker([{ model: "m*", rpm: 2 }], () => now);
    expect(quotas.admit("us-east-1", ["m1"], 10)).toEqual({ ok: true });
    now = 30_000;
    expect(quotas.admit("us-east-1", ["m1"], 10)).toEqual({ ok: true });
    expect(quotas.admit("us-east-1", ["m1"], 10)).toEqual({ ok: false, kind: "requests" });
    now = 60_001;
    expect(quotas.admit("us-east-1", ["m1"], 10)).toEqual({ ok: true });
    expect(quotas.admit("us-east-1", ["other"], 10)).toEqual({ ok: true });
  });

  it("reserves tokens and keeps regions apart", () => {
    const quotas = new QuotaTracker([{ tpm: 100 }], () => 0);
    expect(quotas.admit("us-east-1", ["m"], 60)).toEqual({ ok: true });
    expect(quotas.admit("us-east-1", ["m"], 60)).toEqual({ ok: false, kind: "tokens" });
    expect(quotas.admit("us-west-2", ["m"], 60)).toEqual({ ok: true });
  });
});
