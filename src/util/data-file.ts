/**
 * Reads a shipped data file (`data/*.json`: models, prices, Bedrock behaviour, betas). The path is
 * relative to this module, so it works from `src/` (tests) and from `dist/` (the package) alike.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export function readDataFile<T>(name: string): T {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`../../data/${name}`, import.meta.url)), "utf8")) as T;
}
