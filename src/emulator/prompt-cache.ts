/**
 * Prompt caching as the Anthropic models do it: the request is read as one sequence
 * (tools, then system, then messages); each block with `cache_control` marks a breakpoint; the
 * longest marked prefix seen before (and not expired) is read from cache, and the prefix up to the
 * last breakpoint is written. Prefixes shorter than the model's minimum are never cached.
 */
import { createHash } from "node:crypto";
import { countTokens, TOKEN_COSTS } from "./tokens.js";
import type { MessagesBody } from "./validate.js";

export interface CacheUsage {
  cacheReadTokens: number;
  cacheWriteTokens: number;
  /** Of the written tokens, those with a one-hour TTL. */
  cacheWrite1hTokens: number;
  /** Tokens neither read from nor written to the cache. */
  uncachedTokens: number;
}

interface Segment {
  key: string;
  tokens: number;
  ttl?: "5m" | "1h";
}

const TTL_MS = { "5m": 5 * 60_000, "1h": 60 * 60_000 } as const;
/** Past this many entries, expired ones are dropped (a long-running emulator stays bounded). */
const MAX_ENTRIES = 100_000;

function blockTokens(block: Record<string, unknown>): number {
  switch (block.type) {
    case "text":
      return countTokens(String(block.text ?? ""));
    case "image":
      return TOKEN_COSTS.image;
    case "document": {
      const source = block.source as { type?: string; data?: string } | undefined;
      return source?.type === "text" ? countTokens(String(source.data ?? "")) : TOKEN_COSTS.documentPage;
    }
    case "tool_use":
      return countTokens(`${String(block.name)} ${JSON.stringify(block.input ?? {})}`);
    case "tool_result": {
      const content = block.content;
      if (typeof content === "string") return countTokens(content);
      if (Array.isArray(content))
        return content.reduce((n: number, c) => n + blockTokens(c as Record<string, unknown>), 0);
      return 0;
    }
    case "thinking":
    case "redacted_thinking":
      // Thinking from earlier turns is stripped from the context and not billed as input.
      return 0;
    default:
      return countTokens(JSON.stringify(block));
  }
}

/** The request as an ordered list of segments, each with its tokens and cache breakpoint. */
function segments(body: MessagesBody): Segment[] {
  const out: Segment[] = [];
  const push = (value: unknown, tokens: number) => {
    const cc = (value as { cache_control?: { ttl?: "5m" | "1h" } | null }).cache_control;
    out.push({ key: JSON.stringify(value), tokens, ttl: cc ? (cc.ttl ?? "5m") : undefined });
  };
  if (body.tools?.length) {
    body.tools.forEach((tool, i) => {
      push(tool, countTokens(JSON.stringify(tool)) + (i === 0 ? TOKEN_COSTS.toolUseSystemPrompt : 0));
    });
  }
  if (typeof body.system === "string") push({ system: body.system }, countTokens(body.system));
  else for (const block of body.system ?? []) push(block, countTokens(block.text));
  for (const message of body.messages) {
    if (typeof message.content === "string") {
      push(
        { role: message.role, text: message.content },
        TOKEN_COSTS.perMessage + countTokens(message.content),
      );
      continue;
    }
    message.content.forEach((block, i) => {
      push(block, blockTokens(block as Record<string, unknown>) + (i === 0 ? TOKEN_COSTS.perMessage : 0));
    });
    if (message.content.length === 0) push({ role: message.role }, TOKEN_COSTS.perMessage);
  }
  return out;
}

/** Input tokens of a request, cached or not. */
export function inputTokens(body: MessagesBody): number {
  return segments(body).reduce((n, s) => n + s.tokens, 0);
}

export class PromptCache {
  private readonly entries = new Map<string, number>();

  constructor(private readonly now: () => number) {}

  /**
   * Accounts one request against the cache of `scope` (account and model: caches are not shared
   * across them) and stores its prefixes.
   */
  account(scope: string, body: MessagesBody, minimumTokens: number): CacheUsage {
    const all = segments(body);
    const total = all.reduce((n, s) => n + s.tokens, 0);
    const hash = createHash("sha256").update(scope);
    const breakpoints: { digest: string; tokens: number; ttl: "5m" | "1h" }[] = [];
    let running = 0;
    for (const segment of all) {
      hash.update(segment.key);
      running += segment.tokens;
      if (segment.ttl)
        breakpoints.push({ digest: hash.copy().digest("hex"), tokens: running, ttl: segment.ttl });
    }
    const now = this.now();
    if (this.entries.size > MAX_ENTRIES) this.prune(now);
    const usable = breakpoints.filter((b) => b.tokens >= minimumTokens);
    let read = 0;
    for (const b of usable) {
      const expires = this.entries.get(b.digest);
      if (expires !== undefined && expires > now) read = b.tokens;
    }
    const last = usable[usable.length - 1];
    const written = last && last.tokens > read ? last.tokens - read : 0;
    const write1h = written > 0 && last?.ttl === "1h" ? written : 0;
    for (const b of usable) {
      // A hit refreshes the entry's lifetime, as reading does on the real service.
      this.entries.set(b.digest, Math.max(this.entries.get(b.digest) ?? 0, now + TTL_MS[b.ttl]));
    }
    return {
      cacheReadTokens: read,
      cacheWriteTokens: written,
      cacheWrite1hTokens: write1h,
      uncachedTokens: total - read - written,
    };
  }

  private prune(now: number): void {
    for (const [digest, expires] of this.entries) if (expires <= now) this.entries.delete(digest);
    // Still too many live entries: forget the oldest inserted, as an LRU-ish bound.
    for (const digest of this.entries.keys()) {
      if (this.entries.size <= MAX_ENTRIES) break;
      this.entries.delete(digest);
    }
  }
}
