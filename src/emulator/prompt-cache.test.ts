import { describe, expect, it } from "vitest";
import { inputTokens, PromptCache } from "./prompt-cache.js";
import type { MessagesBody } from "./validate.js";

const words = (n: number) => Array.from({ length: n }, (_, i) => `word${i % 10}`).join(" ");

function request(system: string, question: string, ttl?: "5m" | "1h"): MessagesBody {
  return {
    max_tokens: 100,
    system: [{ type: "text", text: system, cache_control: { type: "ephemeral", ...(ttl ? { ttl } : {}) } }],
    messages: [{ role: "user", content: question }],
  } as MessagesBody;
}

describe("PromptCache", () => {
  it("writes a long prefix once, then reads it, and bills the rest as input", () => {
    let now = 0;
    const cache = new PromptCache(() => now);
    const body = request(words(1500), "first question");
    const first = cache.account("acct|model", body, 1024);
    expect(first.cacheWriteTokens).toBeGreaterThanOrEqual(1500);
    expect(first.cacheReadTokens).toBe(0);
    now += 60_000;
    const second = cache.account("acct|model", request(words(1500), "another question"), 1024);
    expect(second.cacheReadTokens).toBe(first.cacheWriteTokens);
    expect(second.cacheWriteTokens).toBe(0);
    expect(second.uncachedTokens + second.cacheReadTokens).toBe(
      inputTokens(request(words(1500), "another question")),
    );
  });

  it("expires a 5-minute entry, keeps a 1-hour one, and reports the 1-hour write", () => {
    let now = 0;
    const cache = new PromptCache(() => now);
    cache.account("s", request(words(1500), "q", "5m"), 1024);
    const hour = cache.account("s", request(words(1600), "q", "1h"), 1024);
    expect(hour.cacheWrite1hTokens).toBe(hour.cacheWriteTokens);
    now += 6 * 60_000;
    expect(cache.account("s", request(words(1500), "q", "5m"), 1024).cacheReadTokens).toBe(0);
    expect(cache.account("s", request(words(1600), "q", "1h"), 1024).cacheReadTokens).toBeGreaterThan(0);
  });

  it("never caches a prefix under the model's minimum", () => {
    const cache = new PromptCache(() => 0);
    const body = request(words(200), "q");
    cache.account("s", body, 1024);
    const again = cache.account("s", body, 1024);
    expect(again).toMatchObject({
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      uncachedTokens: inputTokens(body),
    });
  });

  it("keeps caches apart per account and model", () => {
    const cache = new PromptCache(() => 0);
    cache.account("a|m", request(words(1500), "q"), 1024);
    expect(cache.account("b|m", request(words(1500), "q"), 1024).cacheReadTokens).toBe(0);
  });
});
