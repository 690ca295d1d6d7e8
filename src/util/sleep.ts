import { setTimeout as delay } from "node:timers/promises";

/** Waits `ms` (nothing at all for 0, so unpaced runs stay synchronous where they can). */
export async function sleep(ms: number): Promise<void> {
  if (ms > 0) await delay(ms);
}
