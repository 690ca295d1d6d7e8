/**
 * `messageEnd` reads a Message's stop reason and usage from its last members instead of parsing the
 * whole answer: wherever it answers, it must agree with JSON.parse of the whole, and it must decline
 * (so the recorder parses the whole) whenever the last `"stop_reason":` is not the root's key.
 */
import { describe, expect, it } from "vitest";
import { messageEnd, NO_USAGE, stopReasonAtEnd, usageFrom } from "../src/usage/usage.js";
import { seededRandom } from "../src/util/random.js";

/** What the recorder took from a whole parse before: the reference. */
function whole(text: string): { stopReason: unknown; usage: unknown } | undefined {
  try {
    const message = JSON.parse(text) as { usage?: unknown; stop_reason?: unknown };
    return { stopReason: message.stop_reason ?? null, usage: { ...NO_USAGE, ...usageFrom(message.usage) } };
  } catch {
    return undefined;
  }
}

/** Counts of documents `stopReasonAtEnd` answered, and declined where `messageEnd` answered. */
const inPlace = { answered: 0, declined: 0 };

function check(text: string): ReturnType<typeof messageEnd> {
  const fromText = messageEnd(text);
  const bytes = new TextEncoder().encode(text);
  const fromBytes = messageEnd(bytes);
  expect(fromBytes).toEqual(fromText);
  // The in-place reader: wherever it answers, the whole parse agrees, and so does messageEnd.
  const stop = stopReasonAtEnd(bytes);
  if (stop) {
    inPlace.answered++;
    expect(stop.stopReason).toEqual(whole(text)!.stopReason);
    expect(fromText?.stopReason).toEqual(stop.stopReason);
  } else if (fromText) {
    inPlace.declined++;
  }
  if (fromText) {
    const reference = whole(text);
    expect(reference).toBeDefined();
    expect(fromText.stopReason).toEqual(reference!.stopReason);
    if (fromText.usage) expect({ ...NO_USAGE, ...fromText.usage }).toEqual(reference!.usage);
  }
  return fromText;
}

const message = (content: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: "msg_01",
    type: "message",
    role: "assistant",
    model: "claude-sonnet-4-6",
    content,
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: {
      input_tokens: 40,
      output_tokens: 150,
      cache_creation_input_tokens: 7,
      cache_read_input_tokens: 3,
      cache_creation: { ephemeral_1h_input_tokens: 5 },
    },
    ...extra,
  });

describe("messageEnd: a Message's stop reason and usage from its end", () => {
  it("reads a Message as the API writes it (usage last), text or bytes, with any text before", () => {
    const text = message([{ type: "text", text: 'He said "stop_reason": no.\n\\"stop_reason\\":' }]);
    expect(check(text)).toEqual({
      stopReason: "end_turn",
      usage: {
        inputTokens: 40,
        outputTokens: 150,
        cacheWriteTokens: 7,
        cacheReadTokens: 3,
        cacheWrite1hTokens: 5,
      },
    });
    expect(check(message([], { stop_reason: "max_tokens" }))!.stopReason).toBe("max_tokens");
    expect(check(message([], { stop_reason: null }))!.stopReason).toBeNull();
  });

  it("declines when the last stop_reason key is not the root's: tool input, strings, keys that end in it", () => {
    // A tool's input after the root's members (key order is not guaranteed).
    const tool = `{"id":"m","stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":2},"content":[{"type":"tool_use","input":{"stop_reason":"fake","usage":{"input_tokens":99}}}]}`;
    expect(check(tool)).toBeUndefined();
    // A key that ends in stop_reason after an escaped quote.
    const key = `{"content":[],"usage":{"input_tokens":1,"output_tokens":2},"stop_reason":"end_turn","x":{"a\\"stop_reason":"fake"}}`;
    expect(check(key)).toBeUndefined();
    const rootKey = `{"content":[],"stop_reason":"end_turn","a\\"stop_reason":"fake"}`;
    expect(check(rootKey)).toBeUndefined();
    // No stop_reason, not JSON, pretty-printed with a space before the colon.
    expect(check(`{"content":[]}`)).toBeUndefined();
    expect(check("upstream said no")).toBeUndefined();
    expect(check(`{\n  "stop_reason" : "end_turn"\n}`)).toBeUndefined();
  });

  it("without usage after stop_reason says so (the recorder then parses the whole)", () => {
    const text = `{"usage":{"input_tokens":1,"output_tokens":2},"stop_reason":"end_turn","stop_sequence":null}`;
    expect(check(text)).toEqual({ stopReason: "end_turn", usage: undefined });
  });

  it("agrees with a whole parse on random nested documents that mention stop_reason anywhere", () => {
    const random = seededRandom(7);
    const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)]!;
    const keys = ["stop_reason", "usage", "type", "input", 'a\\"stop_reason', "text", "stop_sequence"];
    const value = (depth: number): unknown => {
      const r = random();
      if (depth > 3 || r < 0.3)
        return pick(["end_turn", null, 3, '"stop_reason":', 'a,"stop_reason":"x"', "\\", "é✓"]);
      if (r < 0.55) return Array.from({ length: Math.floor(random() * 3) }, () => value(depth + 1));
      return object(depth + 1);
    };
    const object = (depth: number): Record<string, unknown> => {
      const out: Record<string, unknown> = {};
      for (let i = Math.floor(random() * 4); i > 0; i--) {
        const key = pick(keys);
        out[key === 'a\\"stop_reason' ? 'a"stop_reason' : key] =
          key === "usage" ? { input_tokens: Math.floor(random() * 100), output_tokens: 5 } : value(depth);
      }
      return out;
    };
    let answered = 0;
    for (let i = 0; i < 3_000; i++) {
      const root = object(0);
      if (random() < 0.5) root.stop_reason = pick(["end_turn", "max_tokens", null]);
      if (random() < 0.5) root.usage = { input_tokens: i, output_tokens: 2 * i };
      const text = JSON.stringify(root, null, random() < 0.2 ? 1 : undefined);
      if (check(text)) answered++;
    }
    // Both ways were taken.
    expect(answered).toBeGreaterThan(300);
    expect(answered).toBeLessThan(3_000);
    // The in-place reader answered most of what messageEnd did (it declines escapes and non-ASCII).
    expect(inPlace.answered).toBeGreaterThan(200);
  });

  it("reads the stop reason in place from a Message's bytes, and declines what it cannot read plainly", () => {
    const bytes = (text: string) => new TextEncoder().encode(text);
    expect(stopReasonAtEnd(bytes(message([{ type: "text", text: '"stop_reason":"x"' }])))).toEqual({
      stopReason: "end_turn",
    });
    expect(stopReasonAtEnd(bytes(message([], { stop_reason: null })))).toEqual({ stopReason: null });
    expect(stopReasonAtEnd(bytes(`${message([], { stop_reason: "max_tokens" })}\n`))).toEqual({
      stopReason: "max_tokens",
    });
    // An escape or a non-ASCII byte in the value, a value that is not a string or null: declined.
    expect(stopReasonAtEnd(bytes(`{"stop_reason":"end\\u005fturn"}`))).toBeUndefined();
    expect(stopReasonAtEnd(bytes(`{"stop_reason":"é"}`))).toBeUndefined();
    expect(stopReasonAtEnd(bytes(`{"stop_reason":3}`))).toBeUndefined();
    // Nested (the holding object is not the document's last), or cut short.
    expect(stopReasonAtEnd(bytes(`{"content":[{"stop_reason":"fake"}]}`))).toBeUndefined();
    expect(stopReasonAtEnd(bytes(`{"a":{"stop_reason":"fake","b":"}"}}`))).toBeUndefined();
    expect(stopReasonAtEnd(bytes(`{"stop_reason":"end_turn","usage":{"input_tokens":1`))).toBeUndefined();
    expect(stopReasonAtEnd(bytes(`{"stop_reason":"end_turn"} trailing`))).toBeUndefined();
  });
});
