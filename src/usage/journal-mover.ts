/**
 * Moves journaled records into SQLite on a worker thread, off the thread that serves requests.
 *
 * Why a thread: a record is durable once its journal line is written (one `write`); moving it into
 * SQLite is the rest of recording's work (binding, the B-tree, the commit's WAL writes, the rollup:
 * about 9 us a record timed inside a createClient process), and a database another process holds
 * locked would make it wait up to the busy timeout. On the worker, neither touches the request's
 * thread, which only sends a journal's byte range every batch (one message per `flushMs`, or per
 * 1,000 records).
 *
 * One worker per process, started at the first batch: a short process (a CLI `ask`) never starts
 * one, its records go in on this thread when it reads or exits. Ranges go in the order sent; the
 * worker says which it has done through shared memory, so a read on this thread can wait for the
 * ranges before it without giving up the thread. A worker that dies is started again with the
 * ranges it had not done (moving a range twice is harmless: see ledger-rows.ts); after three deaths,
 * ranges go in on this thread.
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { JournalRange } from "./ledger-rows.js";

/** How soon a range that could not go in (the database busy past its timeout) is tried again, in ms (on either thread). */
export const RETRY_MS = 1_000;

/** The shared counters the worker updates (Int32Array slots). */
export enum Signal {
  /** The sequence number of the last message done. */
  Done = 0,
  /** How many times a message failed (and is being tried again). */
  Failures = 1,
  /** Bumped on every update: what a waiter waits on. */
  Changes = 2,
  /** How many workers have loaded (each bumps it once, before taking messages). */
  Loaded = 3,
}

export type MoverMessage =
  | { kind: "move"; seq: number; ledger: string; range: JournalRange }
  | { kind: "close"; seq: number; ledger: string };

/** What the worker reports to a waiter: its message done, a failure while waiting, or no word in time. */
export type WaitResult = "done" | "failed" | "timeout";

/** How long a read waits for its ledger's ranges: the worker's start and the busy timeout (5 s), with room. */
const WAIT_MS = 15_000;
/**
 * How long a worker may take to load before a waiter gives up on it (one that cannot load, say
 * from a bundle without its module, says so only on this thread's event loop, which a waiter holds).
 */
const LOAD_MS = 5_000;
const MAX_RESTARTS = 3;

/**
 * The worker, from its module beside this one: compiled (the dist build), or as TypeScript when
 * this module runs from its sources (tests, tsx), where the worker loads through tsx's API (a
 * worker's entry does not go through loaders given as `execArgv` on Node 20).
 */
function startWorker(workerData: unknown): Worker {
  if (!import.meta.url.endsWith(".ts")) {
    // No flags from this process: the worker needs none, and some would stop it (`--input-type`
    // of a `node -e` script) or load into it what it does not need (an APM agent's `--require`).
    return new Worker(new URL("./journal-mover-thread.js", import.meta.url), { workerData, execArgv: [] });
  }
  const entry = new URL("./journal-mover-thread.ts", import.meta.url).href;
  const api = pathToFileURL(
    createRequire(import.meta.url)
      .resolve("tsx/esm/api")
      .replace(/\.cjs$/, ".mjs"),
  ).href;
  const boot = `import(${JSON.stringify(api)}).then((tsx) => tsx.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)}))`;
  return new Worker(boot, { eval: true, workerData });
}

class JournalMover {
  private worker: Worker | undefined;
  private readonly signals = new Int32Array(new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT));
  /** The Loaded count the current worker bumps once it has loaded, and until when it may take to. */
  private loading: { count: number; until: number } | undefined;
  private seq = 0;
  /**
   * Messages sent and not yet done, oldest first, with who sent a range: sent again to a worker
   * started after a death, or given back to their senders (`reclaim`) once ranges go in on this thread.
   */
  private unconfirmed: { message: MoverMessage; owner?: object }[] = [];
  private restarts = 0;
  /** Set after too many deaths (or when a worker cannot start): ranges go in on this thread. */
  private inThisThread = false;

  /** True while ranges go to a worker (one was started and has not failed for good). */
  get active(): boolean {
    return this.worker !== undefined && !this.inThisThread;
  }

  /**
   * Sends a range of `owner`'s to the worker (started if need be); returns its sequence number, or
   * 0 when ranges go in on this thread.
   */
  move(ledger: string, range: JournalRange, owner: object): number {
    return this.send({ kind: "move", seq: 0, ledger, range }, owner);
  }

  /**
   * Once ranges go in on this thread (`active` false after the worker failed for good): the ranges
   * `owner` sent that the worker had not done, oldest first, handed back to be moved in there.
   */
  reclaim(owner: object): JournalRange[] {
    if (this.active) return [];
    const ranges: JournalRange[] = [];
    this.unconfirmed = this.unconfirmed.filter(({ message, owner: from }) => {
      if (from !== owner || message.kind !== "move") return true;
      ranges.push(message.range);
      return false;
    });
    return ranges;
  }

  /** The worker closes its connection to `ledger` once the messages before are done. */
  close(ledger: string): void {
    if (this.active) this.send({ kind: "close", seq: 0, ledger });
  }

  /** Waits, without giving up this thread, until message `seq` is done (or fails, or the wait runs out). */
  waitFor(seq: number): WaitResult {
    const deadline = Date.now() + WAIT_MS;
    const failures = Atomics.load(this.signals, Signal.Failures);
    for (;;) {
      const changes = Atomics.load(this.signals, Signal.Changes);
      if (Atomics.load(this.signals, Signal.Done) >= seq) {
        this.prune();
        return "done";
      }
      if (Atomics.load(this.signals, Signal.Failures) !== failures) return "failed";
      const now = Date.now();
      if (now >= deadline || !this.active) return "timeout";
      let until = deadline;
      if (this.loading) {
        if (Atomics.load(this.signals, Signal.Loaded) > this.loading.count) this.loading = undefined;
        else if (now >= this.loading.until) return "timeout";
        else until = Math.min(deadline, this.loading.until);
      }
      Atomics.wait(this.signals, Signal.Changes, changes, until - now);
    }
  }

  private send(message: MoverMessage, owner?: object): number {
    if (this.inThisThread) return 0;
    if (!this.worker && !this.start()) return 0;
    message.seq = ++this.seq;
    this.prune();
    this.unconfirmed.push({ message, owner });
    this.worker!.postMessage(message);
    return message.seq;
  }

  private prune(): void {
    const done = Atomics.load(this.signals, Signal.Done);
    let n = 0;
    while (n < this.unconfirmed.length && this.unconfirmed[n]!.message.seq <= done) n++;
    if (n > 0) this.unconfirmed.splice(0, n);
  }

  private start(): boolean {
    try {
      this.loading = { count: Atomics.load(this.signals, Signal.Loaded), until: Date.now() + LOAD_MS };
      const worker = startWorker({ signals: this.signals });
      // The worker never keeps the process alive: what it has not moved stays journaled, and an
      // exiting process moves it in (SqliteLedger's exit hook).
      worker.unref();
      worker.on("error", () => this.died(worker));
      worker.on("exit", () => this.died(worker));
      this.worker = worker;
      return true;
    } catch {
      this.inThisThread = true;
      return false;
    }
  }

  private died(worker: Worker): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.prune();
    if (++this.restarts > MAX_RESTARTS || !this.start()) {
      this.inThisThread = true;
      return;
    }
    // The new worker counts on from the last message done; the ones after it go again.
    for (const { message } of this.unconfirmed) this.worker!.postMessage(message);
  }

  /** Ends the worker as a crash would (tests: what it had not done goes to the next one). */
  async crash(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    await worker.terminate();
    // The exit event (and the restart) comes at a later turn.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The process's mover. */
export const journalMover = new JournalMover();
