/**
 * The child side of the benchmark children (see child-ipc.ts): answers the parent's requests for
 * this process's `process.cpuUsage()` and RSS over IPC. Imports nothing but Node's own modules, as
 * it runs transpiled outside the repository.
 */
export interface ChildStats {
  /** User + system CPU time of the child since it started, µs. */
  cpuUs: number;
  /** Resident set size now, bytes. */
  rss: number;
  /** Highest RSS sampled (every `watch` interval) since the last `watch`, bytes. */
  peakRss: number;
  /** The kernel's high-water mark of the child's RSS over its whole life (getrusage), bytes. */
  maxRss: number;
  /** Highest V8 heap in use, and highest memory outside it (buffers), sampled with the RSS, bytes. */
  peakHeapUsed: number;
  peakExternal: number;
}

export type ToChild = { type: "stats"; id: number } | { type: "watch"; everyMs: number } | { type: "stop" };
export type FromChild = { type: "ready"; url: string } | ({ type: "stats"; id: number } & ChildStats);

/** In the child: answer the parent's stats requests; on `stop` (or SIGTERM) run `stop` and exit 0 (so that --cpu-prof writes its profile). */
export function serveParent(url: string, stop: () => Promise<void>): void {
  let peak = process.memoryUsage.rss();
  let peakHeapUsed = 0;
  let peakExternal = 0;
  let watcher: NodeJS.Timeout | undefined;
  let stopping = false;
  const exit = () => {
    if (stopping) return;
    stopping = true;
    if (watcher) clearInterval(watcher);
    stop()
      .catch(() => undefined)
      .finally(() => process.exit(0));
  };
  process.on("message", (message: ToChild) => {
    if (message.type === "stats") {
      const rss = process.memoryUsage.rss();
      peak = Math.max(peak, rss);
      const cpu = process.cpuUsage();
      const reply: FromChild = {
        type: "stats",
        id: message.id,
        cpuUs: cpu.user + cpu.system,
        rss,
        peakRss: peak,
        maxRss: process.resourceUsage().maxRSS * 1024,
        peakHeapUsed,
        peakExternal,
      };
      process.send?.(reply);
    } else if (message.type === "watch") {
      if (watcher) clearInterval(watcher);
      peak = process.memoryUsage.rss();
      peakHeapUsed = 0;
      peakExternal = 0;
      watcher = setInterval(() => {
        const memory = process.memoryUsage();
        peak = Math.max(peak, memory.rss);
        peakHeapUsed = Math.max(peakHeapUsed, memory.heapUsed);
        peakExternal = Math.max(peakExternal, memory.external);
      }, message.everyMs);
      watcher.unref();
    } else if (message.type === "stop") {
      exit();
    }
  });
  process.once("SIGTERM", exit);
  process.once("disconnect", exit);
  const ready: FromChild = { type: "ready", url };
  process.send?.(ready);
}
