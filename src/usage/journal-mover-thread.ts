/**
 * The worker thread that moves journal ranges into SQLite (see journal-mover.ts): one connection
 * per ledger file, the ranges in the order they were sent, each in one transaction. A range that
 * cannot go in (the database busy past its timeout) is tried again, and the ranges after it wait.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { type MoverMessage, RETRY_MS, Signal } from "./journal-mover.js";
import { batchInserter, moveJournalRange } from "./ledger-rows.js";

const signals = (workerData as { signals: Int32Array }).signals;
const ledgers = new Map<string, { db: Database.Database; insert: (rows: unknown[][]) => void }>();
const queue: MoverMessage[] = [];
let retrying = false;

function ledger(file: string) {
  let open = ledgers.get(file);
  if (!open) {
    const db = new Database(file);
    try {
      db.pragma("synchronous = NORMAL");
      db.pragma("busy_timeout = 5000");
      open = { db, insert: batchInserter(db) };
    } catch (error) {
      db.close();
      throw error;
    }
    ledgers.set(file, open);
  }
  return open;
}

function signal(slot: Signal, value: number): void {
  Atomics.store(signals, slot, value);
  Atomics.add(signals, Signal.Changes, 1);
  Atomics.notify(signals, Signal.Changes);
}

function handle(message: MoverMessage): void {
  if (message.kind === "move") {
    moveJournalRange(ledger(message.ledger).insert, message.range);
  } else {
    ledgers.get(message.ledger)?.db.close();
    ledgers.delete(message.ledger);
  }
}

function drain(): void {
  retrying = false;
  while (queue.length > 0) {
    const message = queue[0]!;
    try {
      handle(message);
    } catch {
      if (!existsSync(path.dirname(message.ledger))) {
        // The ledger's folder is gone, and its journals with it (they live beside it): nothing
        // is left to move, and trying again would hold up every range after this one.
        queue.shift();
        signal(Signal.Done, message.seq);
        continue;
      }
      signal(Signal.Failures, Atomics.load(signals, Signal.Failures) + 1);
      retrying = true;
      setTimeout(drain, RETRY_MS);
      return;
    }
    queue.shift();
    signal(Signal.Done, message.seq);
  }
}

parentPort!.on("message", (message: MoverMessage) => {
  queue.push(message);
  if (!retrying) drain();
});
signal(Signal.Loaded, Atomics.load(signals, Signal.Loaded) + 1);
