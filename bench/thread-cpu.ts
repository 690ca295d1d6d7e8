/**
 * CPU time of this process's main thread (the one that serves requests), apart from its other
 * threads (the ledger's mover thread, the garbage collector's helpers, libuv's pool), which
 * `process.cpuUsage()` counts in. Node 20 has no per-thread CPU call; Linux gives it in
 * `/proc/self/task/<pid>/schedstat` (ns on the CPU), read here. Elsewhere: undefined.
 */
import { readFileSync } from "node:fs";

const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;

function read(): number | undefined {
  try {
    return Number(readFileSync(SCHEDSTAT, "utf8").split(" ")[0]) / 1_000;
  } catch {
    return undefined;
  }
}

/** Whether this machine tells the main thread's CPU apart. */
export const hasThreadCpu = read() !== undefined;

/** The main thread's CPU time so far, in µs (0 where the machine does not tell). */
function mainThreadCpuUs(): number {
  return read() ?? 0;
}

/** CPU used since a clock started, in µs: by the whole process (every thread) and by its main thread. */
export interface CpuUsed {
  cpuUs: number;
  mainCpuUs: number;
}

/** Starts a CPU clock; calling what it returns reads both figures since then. */
export function cpuClock(): () => CpuUsed {
  const cpu = process.cpuUsage();
  const main = mainThreadCpuUs();
  return () => {
    const used = process.cpuUsage(cpu);
    return { cpuUs: used.user + used.system, mainCpuUs: mainThreadCpuUs() - main };
  };
}
