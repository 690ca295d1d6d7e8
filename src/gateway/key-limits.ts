/**
 * Per-key rate limits, checked before any upstream call: requests per minute and tokens per
 * minute, counted in fixed windows aligned to the clock's minute, so the refusal can say exactly
 * when the limit resets. A request's tokens are reserved at admission (input estimate plus
 * max_tokens, the most it can use) and replaced by what it really used once recorded.
 *
 * In-process state: one gateway process. Replicas sharing limits need a shared counter store
 * (Redis), which this interface leaves room for.
 */

export interface KeyLimitRequest {
  key: string;
  rpm: number | null;
  tpm: number | null;
  /** Tokens reserved at admission. */
  tokens: number;
}

export class KeyLimitError extends Error {
  override readonly name = "KeyLimitError";
  constructor(
    message: string,
    readonly limit: "rpm" | "tpm",
    /** Epoch ms when the window resets. */
    readonly resetsAt: number,
  ) {
    super(message);
  }
}

export interface KeyLimitTicket {
  /** Swaps the reservation for what the request really used (input + output tokens). */
  settle(tokensUsed: number): void;
}

interface Window {
  start: number;
  requests: number;
  tokens: number;
}

const MINUTE = 60_000;

export class KeyLimits {
  private readonly windows = new Map<string, Window>();

  constructor(private readonly now: () => number = Date.now) {}

  private windowOf(key: string): Window {
    const start = Math.floor(this.now() / MINUTE) * MINUTE;
    let window = this.windows.get(key);
    if (!window || window.start !== start) {
      window = { start, requests: 0, tokens: 0 };
      this.windows.set(key, window);
    }
    return window;
  }

  /** Admits the request or throws KeyLimitError naming the limit and its reset time. */
  admit(request: KeyLimitRequest): KeyLimitTicket {
    if (request.rpm === null && request.tpm === null) return { settle: () => undefined };
    const window = this.windowOf(request.key);
    const resetsAt = window.start + MINUTE;
    const resets = new Date(resetsAt).toISOString();
    if (request.rpm !== null && window.requests + 1 > request.rpm) {
      throw new KeyLimitError(
        `Key "${request.key}" is over its limit of ${request.rpm} requests per minute; it resets at ${resets}.`,
        "rpm",
        resetsAt,
      );
    }
    if (request.tpm !== null && window.tokens + request.tokens > request.tpm) {
      const why =
        request.tokens > request.tpm
          ? `this request alone may use ${request.tokens} tokens (input estimate plus max_tokens), more than its limit of ${request.tpm} tokens per minute; lower max_tokens`
          : `it is over its limit of ${request.tpm} tokens per minute (${window.tokens} used or reserved, this request may use ${request.tokens}); it resets at ${resets}`;
      throw new KeyLimitError(`Key "${request.key}": ${why}.`, "tpm", resetsAt);
    }
    window.requests += 1;
    window.tokens += request.tokens;
    let settled = false;
    return {
      settle: (used) => {
        if (settled) return;
        settled = true;
        // Only the window that took the reservation is corrected; a new window starts clean.
        if (this.windows.get(request.key) === window) {
          window.tokens = Math.max(0, window.tokens - request.tokens + used);
        }
      },
    };
  }
}
