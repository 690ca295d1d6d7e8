/** How usage reports write money, tokens, times and spend over time. */

/** USD: two decimals from $0.10 up, four below (`$0.0042`), `<$0.0001` for dust. */
export function formatUsd(usd: number): string {
  const sign = usd < 0 ? "-" : "";
  const abs = Math.abs(usd);
  if (abs === 0) return "$0.00";
  if (abs < 0.00005) return `${sign}<$0.0001`;
  if (abs < 0.1) return `${sign}$${abs.toFixed(4)}`;
  return `${sign}$${abs.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/** Whole numbers with thousands separators: `1,234,567`. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** `2026-11-01 09:30` (UTC, no seconds); midnight as the bare date. */
export function formatUtc(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith("T00:00:00.000Z") ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}

const BARS = "▁▂▃▄▅▆▇█";

/** One character per value, scaled to the largest; zero is the lowest bar. */
export function sparkline(values: number[]): string {
  const max = Math.max(0, ...values);
  return values
    .map((v) => (max <= 0 || v <= 0 ? BARS[0]! : BARS[Math.min(7, Math.max(1, Math.round((v / max) * 7)))]!))
    .join("");
}

/** Rounds away binary noise (0.30000000000000004) for JSON and CSV: micro-cents are plenty. */
export function roundUsd(usd: number): number {
  return Math.round(usd * 1e8) / 1e8;
}
