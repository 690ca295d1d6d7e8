/**
 * Benchmark children (emulator, gateway, Portkey) each in their own process, so that their CPU
 * time and memory are measured alone: the child reports its own `process.cpuUsage()` and RSS over
 * an IPC channel when asked. Child side: `serveParent()` (child-serve.ts); parent side: `spawnChild()`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

import type { ChildStats, FromChild, ToChild } from "./child-serve.js";

export type { ChildStats };

export interface BenchChild {
  name: string;
  url: string;
  child: ChildProcess;
  stats(): Promise<ChildStats>;
  /** Starts sampling RSS every `everyMs` in the child; `stats().peakRss` is the peak since. */
  watch(everyMs: number): void;
  /** Asks the child to stop (it exits 0); SIGKILL after 10 s. */
  stop(): Promise<void>;
}

/** The repository's root: children load dist/ and node_modules from it (`BENCH_ROOT`). */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));

let compiled: string | undefined;

/**
 * The child scripts, transpiled once per run to plain JavaScript in a temporary folder: a child
 * run under tsx would carry tsx's loader (about 45 MB of RSS) into the figures.
 */
function compiledDir(): string {
  if (compiled) return compiled;
  const dir = mkdtempSync(path.join(os.tmpdir(), "bc-bench-children-"));
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module" }));
  for (const name of ["child-serve", "emulator-child", "gateway-child", "portkey-child", "proxy-child"]) {
    const source = readFileSync(fileURLToPath(new URL(`./${name}.ts`, import.meta.url)), "utf8");
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    writeFileSync(path.join(dir, `${name}.js`), outputText);
  }
  compiled = dir;
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Runs `bench/<script>.ts` (transpiled) in a child process with plain node (`execArgv` first, e.g.
 * `--cpu-prof`), resolving once it reports its URL. Its stdout and stderr are read and thrown
 * away (a full pipe would block it; Portkey writes an error line per streamed answer); the last
 * 2 KB of stderr are shown if it exits early.
 */
export async function spawnChild(
  name: string,
  script: "emulator-child" | "gateway-child" | "portkey-child" | "proxy-child",
  args: string[] = [],
  options: { execArgv?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<BenchChild> {
  const file = path.join(compiledDir(), `${script}.js`);
  const child = spawn(process.execPath, [...(options.execArgv ?? []), file, ...args], {
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    env: {
      ...process.env,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      BENCH_ROOT: ROOT,
      ...options.env,
    },
  });
  child.stdout!.resume();
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2048);
  });
  const waiting = new Map<number, (stats: ChildStats) => void>();
  let nextId = 0;
  const url = await new Promise<string>((resolve, reject) => {
    child.on("message", (message: FromChild) => {
      if (message.type === "ready") resolve(message.url);
      else if (message.type === "stats") {
        const { type: _type, id, ...stats } = message;
        waiting.get(id)?.(stats);
        waiting.delete(id);
      }
    });
    child.once("error", reject);
    child.once("exit", (code) =>
      reject(
        new Error(`${name} exited ${code} before it was ready (run \`npm run build\` first?)\n${stderr}`),
      ),
    );
  });
  const send = (message: ToChild) => child.send(message);
  return {
    name,
    url,
    child,
    stats: () =>
      new Promise<ChildStats>((resolve, reject) => {
        if (child.exitCode !== null) return reject(new Error(`${name} has exited`));
        const id = nextId++;
        waiting.set(id, resolve);
        send({ type: "stats", id });
      }),
    watch: (everyMs) => send({ type: "watch", everyMs }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      if (child.connected) send({ type: "stop" });
      else child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Stops every child given, whatever happens to any one of them. */
export async function stopAll(children: (BenchChild | undefined)[]): Promise<void> {
  await Promise.allSettled(children.filter((c): c is BenchChild => c !== undefined).map((c) => c.stop()));
}
