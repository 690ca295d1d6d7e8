/**
 * Token usage as the ledger keeps it: input, output, cache write (5 minutes and 1 hour apart) and
 * cache read, read from a Message, from stream events, or from Bedrock's token-count headers.
 */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** All cache writes; of which `cacheWrite1hTokens` have the one-hour TTL. */
  cacheWriteTokens: number;
  cacheWrite1hTokens: number;
  cacheReadTokens: number;
}

export const NO_USAGE: Usage = {
  inputTokens: 0,
  outputTokens: 0,
  cacheWriteTokens: 0,
  cacheWrite1hTokens: 0,
  cacheReadTokens: 0,
};

function num(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

/** The `usage` object of a Message (or of message_start's message, or message_delta). */
export function usageFrom(raw: unknown): Partial<Usage> {
  if (typeof raw !== "object" || raw === null) return {};
  const u = raw as Record<string, unknown>;
  const out: Partial<Usage> = {};
  if ("input_tokens" in u) out.inputTokens = num(u.input_tokens);
  if ("output_tokens" in u) out.outputTokens = num(u.output_tokens);
  if ("cache_creation_input_tokens" in u) out.cacheWriteTokens = num(u.cache_creation_input_tokens);
  if ("cache_read_input_tokens" in u) out.cacheReadTokens = num(u.cache_read_input_tokens);
  const split = u.cache_creation as Record<string, unknown> | undefined;
  if (split && typeof split === "object") out.cacheWrite1hTokens = num(split.ephemeral_1h_input_tokens);
  return out;
}

/**
 * What a stream says about usage, event by event: message_start carries input and cache tokens,
 * message_delta the final output count (and, on the current API, input and cache again).
 */
export class StreamUsage {
  usage: Usage = { ...NO_USAGE };
  stopReason: string | null = null;
  /** Whether message_start arrived (the input was billed). */
  started = false;
  /** Whether message_delta arrived (the output count is final). */
  finished = false;
  errorName: string | null = null;

  onEvent(type: string, data: Record<string, unknown>): void {
    if (type === "message_start") {
      this.started = true;
      const message = data.message as Record<string, unknown> | undefined;
      this.usage = { ...this.usage, ...usageFrom(message?.usage), outputTokens: 0 };
    } else if (type === "message_delta") {
      this.finished = true;
      this.usage = { ...this.usage, ...usageFrom(data.usage) };
      const delta = data.delta as { stop_reason?: string } | undefined;
      this.stopReason = delta?.stop_reason ?? this.stopReason;
    } else if (type === "error") {
      const error = data.error as { type?: string } | undefined;
      this.errorName = error?.type ?? "error";
    }
  }

  /**
   * What the stream cost. One that never reached message_delta bills its input (once message_start
   * went out) and no output: the client cannot know how many output tokens the model produced
   * (the emulator bills cut streams the same way, so the two agree exactly).
   */
  billed(): Usage {
    if (!this.started) return { ...NO_USAGE };
    return this.finished ? this.usage : { ...this.usage, outputTokens: 0 };
  }
}

/** InvokeModel's token-count headers, when the transport passed them on (`header` reads one by its lower-case name). */
export function usageFromHeaders(header: (name: string) => string | null): Usage | undefined {
  const input = header("x-amzn-bedrock-input-token-count");
  const output = header("x-amzn-bedrock-output-token-count");
  if (input === null || output === null) return undefined;
  return {
    inputTokens: Number(input),
    outputTokens: Number(output),
    cacheWriteTokens: Number(header("x-amzn-bedrock-cache-write-input-token-count") ?? 0),
    cacheWrite1hTokens: 0,
    cacheReadTokens: Number(header("x-amzn-bedrock-cache-read-input-token-count") ?? 0),
  };
}

/** What the end of a Message's JSON says: its `stop_reason`, and its `usage` when that comes after. */
export interface MessageEnd {
  stopReason: string | null;
  /** Undefined when `usage` is not among the members after `stop_reason`. */
  usage?: Partial<Usage>;
}

const STOP_REASON_KEY = '"stop_reason":';
const STOP_REASON_KEY_BYTES = Buffer.from(STOP_REASON_KEY);
const tailDecoder = new TextDecoder();

/**
 * The top-level `stop_reason` and `usage` of a Message's JSON, from its last members alone: the
 * text from the last `"stop_reason":` key to the end, parsed as an object, is the root's members
 * from that key on (Messages end `…"stop_reason":…,"stop_sequence":…,"usage":{…}}`). Undefined
 * when that does not hold, and the caller parses the whole answer:
 * - the key's opening quote follows `{` or `,` (with only whitespace between), so it is not an
 *   escaped quote inside a string (one inside a string is always preceded by a backslash);
 * - `{` + the tail parses: a key of a nested object would leave its parents' closing brackets after
 *   the object, which JSON.parse refuses, so the key is the root's (of a valid document; an answer
 *   that is not valid JSON and still ends like a Message is read as one).
 * Members after the key hold the same values as in a whole parse (the last of a duplicated key
 * wins both ways). Measured in a micro-benchmark: parsing a 20 KB answer whole cost about 25 us,
 * its tail about 1.5 us (0.5 KB: 2 us and 1.5 us); `npm run bench -- ledger` keeps a 20 KB row
 * ("UsageRecorder.finish(), JSON answer of 20 KB") beside the 0.5 KB one to show it.
 */
export function messageEnd(json: Uint8Array | string): MessageEnd | undefined {
  let tail: string;
  if (typeof json === "string") {
    const at = json.lastIndexOf(STOP_REASON_KEY);
    if (at < 0) return undefined;
    const before = lastNonSpace(json, at);
    if (before !== 0x7b && before !== 0x2c) return undefined; // { or ,
    tail = json.slice(at);
  } else {
    const at = lastStopReasonKey(asBuffer(json));
    if (at < 0) return undefined;
    tail = tailDecoder.decode(json.subarray(at));
  }
  let members: { stop_reason?: unknown; usage?: unknown };
  try {
    members = JSON.parse(`{${tail}`) as typeof members;
  } catch {
    return undefined;
  }
  return {
    stopReason: (members.stop_reason as string | null | undefined) ?? null,
    usage: "usage" in members ? usageFrom(members.usage) : undefined,
  };
}

/**
 * The root `stop_reason` of a Message's JSON bytes, read in place when the answer's usage is known
 * already (Bedrock's token-count headers): no decoding, no parse. The same key as `messageEnd`'s
 * (the last `"stop_reason":`, its quote after `{` or `,`), and its value must be `null` or a plain
 * ASCII string; the key is the root's when the object holding it closes at the document's end (a
 * scan of the remaining members, their strings skipped, finds that object's closing brace with only
 * whitespace after it). Undefined when any of that does not hold: the caller reads it another way.
 * Why: timed in a process also running the SDK, undici and SigV4 (createClient against the
 * emulator), `messageEnd`'s decode and tail parse cost about 12 us a JSON answer, and the
 * recorder's `finish()` without a store went from about 29 to 20 us with this read instead.
 */
export function stopReasonAtEnd(bytes: Uint8Array): { stopReason: string | null } | undefined {
  const buffer = asBuffer(bytes);
  const at = lastStopReasonKey(buffer);
  if (at < 0) return undefined;
  const length = bytes.length;
  let i = at + STOP_REASON_KEY_BYTES.length;
  while (i < length && isSpace(bytes[i]!)) i++;
  let stopReason: string | null;
  if (bytes[i] === 0x22) {
    // A plain ASCII string: no escapes, nothing to decode.
    const start = ++i;
    while (i < length && bytes[i] !== 0x22) {
      const c = bytes[i]!;
      if (c === 0x5c || c >= 0x80 || c < 0x20) return undefined;
      i++;
    }
    if (i >= length) return undefined;
    stopReason = buffer.toString("latin1", start, i);
    i++;
  } else if (bytes[i] === 0x6e && bytes[i + 1] === 0x75 && bytes[i + 2] === 0x6c && bytes[i + 3] === 0x6c) {
    stopReason = null;
    i += 4;
  } else {
    return undefined;
  }
  // The rest of the object holding the key, to its closing brace.
  let depth = 0;
  for (; i < length; i++) {
    const c = bytes[i]!;
    if (c === 0x22) {
      for (i++; i < length && bytes[i] !== 0x22; i++) if (bytes[i] === 0x5c) i++;
      if (i >= length) return undefined;
    } else if (c === 0x7b || c === 0x5b) {
      depth++;
    } else if (c === 0x7d || c === 0x5d) {
      if (depth === 0) break;
      depth--;
    }
  }
  if (i >= length || bytes[i] !== 0x7d) return undefined;
  for (i++; i < length; i++) if (!isSpace(bytes[i]!)) return undefined;
  return { stopReason };
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Where the last `"stop_reason":` of `bytes` starts, when its opening quote follows `{` or `,` (with
 * only whitespace between), so that it is a key and not an escaped quote inside a string; else -1.
 */
function lastStopReasonKey(bytes: Buffer): number {
  const at = bytes.lastIndexOf(STOP_REASON_KEY_BYTES);
  if (at < 0) return -1;
  let i = at - 1;
  while (i >= 0 && isSpace(bytes[i]!)) i--;
  return i >= 0 && (bytes[i] === 0x7b || bytes[i] === 0x2c) ? at : -1; // { or ,
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The code of the last non-whitespace character before `end`, or -1. */
function lastNonSpace(text: string, end: number): number {
  let i = end - 1;
  while (i >= 0 && isSpace(text.charCodeAt(i))) i--;
  return i < 0 ? -1 : text.charCodeAt(i);
}
