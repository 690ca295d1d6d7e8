import { describe, expect, it } from "vitest";
import { seededRandom } from "../util/random.js";
import { timeOrderedId } from "./recorder.js";

describe("timeOrderedId", () => {
  it("is the time in 12 hex digits, a dash, then 20 hex digits; unique, and sorted as the times are", () => {
    const random = seededRandom(3);
    const times = Array.from({ length: 2_000 }, () => Math.floor(random() * 2 ** 47));
    // Runs of the same millisecond, as under load.
    times.push(...new Array(50).fill(Date.UTC(2026, 10, 25, 12)));
    const ids = times.map((time) => ({ time, id: timeOrderedId(time) }));
    for (const { time, id } of ids) {
      expect(id).toMatch(/^[0-9a-f]{12}-[0-9a-f]{20}$/);
      expect(Number.parseInt(id.slice(0, 12), 16)).toBe(time);
    }
    expect(new Set(ids.map((x) => x.id)).size).toBe(ids.length);
    const byTime = [...ids].sort((a, b) => a.time - b.time);
    const byId = [...ids].sort((a, b) =>
      a.id.slice(0, 12) < b.id.slice(0, 12) ? -1 : a.id.slice(0, 12) > b.id.slice(0, 12) ? 1 : 0,
    );
    expect(byId.map((x) => x.time)).toEqual(byTime.map((x) => x.time));
  });
});
