/**
 * How long the server asked us to wait: `retry-after-ms` (the Anthropic API), then `retry-after`
 * as seconds or an HTTP date. Bedrock sends neither; a proxy or the Anthropic API may.
 */
const MAX_HONOURED_MS = 60_000;

export function retryAfterMs(headers: Headers, now: number = Date.now()): number | undefined {
  const ms = headers.get("retry-after-ms");
  if (ms !== null) {
    const value = Number(ms);
    if (Number.isFinite(value) && value >= 0) return Math.min(value, MAX_HONOURED_MS);
  }
  const after = headers.get("retry-after");
  if (after === null) return undefined;
  const seconds = Number(after);
  if (after.trim() !== "" && Number.isFinite(seconds) && seconds >= 0)
    return Math.min(seconds * 1000, MAX_HONOURED_MS);
  const date = Date.parse(after);
  if (Number.isNaN(date)) return undefined;
  return Math.min(Math.max(0, date - now), MAX_HONOURED_MS);
}
