import { PassThrough } from "node:stream";
import { setImmediate as turn } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { type BodyObserver, observeBody } from "../usage/observed-body.js";
import type { StreamEnd } from "../usage/sse-tap.js";
import { peekFirstChunk, sourceStream, takeNodeStream } from "./source-stream.js";

const text = (chunk: Uint8Array | undefined) => Buffer.from(chunk ?? []).toString();

async function readAll(body: ReadableStream<Uint8Array>): Promise<string[]> {
  const chunks: string[] = [];
  const reader = body.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(text(r.value));
  return chunks;
}

function watch(body: ReadableStream<Uint8Array>): { chunks: string[]; ends: StreamEnd[] } {
  const seen = { chunks: [] as string[], ends: [] as StreamEnd[] };
  const observer: BodyObserver = {
    onChunk: (chunk) => seen.chunks.push(text(chunk)),
    onEnd: (how) => seen.ends.push(how),
  };
  expect(observeBody(body, () => observer)).toBe(true);
  return seen;
}

describe("source stream", () => {
  it("hands on what one turn brought as one chunk, and each later turn's as its own", async () => {
    const node = new PassThrough();
    const body = sourceStream(node);
    const reading = readAll(body);
    node.write("a");
    node.write("b");
    await turn();
    node.write("c");
    node.end();
    expect(await reading).toEqual(["ab", "c"]);
  });

  it("is lazy: nothing is read until a read or a peek, and an untouched one gives up its Node stream", async () => {
    const node = new PassThrough();
    const body = sourceStream(node);
    node.write("x");
    await turn();
    expect(node.readableLength).toBe(1);
    expect(takeNodeStream(body)).toBe(node);
    // Taken: the web body can no longer be read, and cannot be taken twice.
    expect(takeNodeStream(body)).toBeUndefined();
    await expect(body.getReader().read()).rejects.toThrow(/taken/);
  });

  it("peeks at the first chunk without consuming it; a peeked stream keeps its Node stream", async () => {
    const node = new PassThrough();
    const body = sourceStream(node);
    const peek = peekFirstChunk(body);
    node.write("first");
    expect(text(await peek)).toBe("first");
    expect(takeNodeStream(body)).toBeUndefined();
    node.end("second");
    expect((await readAll(body)).join("")).toBe("firstsecond");
    expect(peekFirstChunk(new ReadableStream())).toBeUndefined();
  });

  it("peeks undefined at an empty answer and rejects when the source fails first", async () => {
    const empty = new PassThrough();
    const emptyBody = sourceStream(empty);
    const peekEmpty = peekFirstChunk(emptyBody);
    empty.end();
    expect(await peekEmpty).toBeUndefined();

    const failing = new PassThrough();
    const peekFailing = peekFirstChunk(sourceStream(failing));
    failing.destroy(new Error("connection reset"));
    await expect(peekFailing).rejects.toThrow("connection reset");
  });

  it("converts chunk by chunk and fails the stream when the converter throws", async () => {
    const node = new PassThrough();
    const body = sourceStream(node, {
      convert: {
        push: (chunk) => {
          const s = Buffer.from(chunk).toString();
          if (s === "bad") throw new Error("corrupted frame");
          return s === "skip" ? undefined : s.toUpperCase();
        },
        end: () => undefined,
      },
    });
    const seen = watch(body);
    const reader = body.getReader();
    node.write("ok");
    expect(text((await reader.read()).value)).toBe("OK");
    node.write("skip");
    await turn();
    node.write("bad");
    await expect(reader.read()).rejects.toThrow("corrupted frame");
    expect(node.destroyed).toBe(true);
    expect(seen).toEqual({ chunks: ["OK"], ends: ["failed"] });
  });

  it("tells its observer of each chunk and of the end before the reader sees the end", async () => {
    const node = new PassThrough();
    const body = sourceStream(node);
    const seen = watch(body);
    const reader = body.getReader();
    node.end("all");
    expect(text((await reader.read()).value)).toBe("all");
    const last = await reader.read();
    expect(last.done).toBe(true);
    expect(seen).toEqual({ chunks: ["all"], ends: ["complete"] });
  });

  it("fails when the converter says the source ended mid-message", async () => {
    const node = new PassThrough();
    const body = sourceStream(node, {
      convert: {
        push: () => undefined,
        end: () => {
          throw new Error("ended inside a frame");
        },
      },
    });
    const seen = watch(body);
    node.end("partial");
    await expect(readAll(body)).rejects.toThrow("ended inside a frame");
    expect(seen.ends).toEqual(["failed"]);
  });

  it("destroys the Node stream when the reader cancels, and says so", async () => {
    const node = new PassThrough();
    const body = sourceStream(node);
    const seen = watch(body);
    const reader = body.getReader();
    node.write("one");
    await reader.read();
    await reader.cancel();
    expect(node.destroyed).toBe(true);
    expect(seen.ends).toEqual(["cancelled"]);
  });

  it("stops reading its source while chunks wait unread, and reads on when they are read", async () => {
    const node = new PassThrough();
    const body = sourceStream(node);
    const reader = body.getReader();
    node.write("1");
    expect(text((await reader.read()).value)).toBe("1");
    for (const chunk of ["2", "3", "4", "5"]) {
      node.write(chunk);
      await turn();
    }
    // Two chunks queued unread, the rest left in the Node stream.
    expect(node.isPaused()).toBe(true);
    expect(node.readableLength).toBeGreaterThan(0);
    const rest: string[] = [];
    node.end();
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest.push(text(r.value));
    expect(rest.join("")).toBe("2345");
  });
});
