/**
 * `npm run bench`: runs every benchmark in one process, prints the table, and prepends a dated
 * section to bench/RESULTS.md. Needs `npm run build` first (the CLI start is measured on dist/).
 */
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { benchEmulator, type Row } from "./emulator.js";

const results = fileURLToPath(new URL("./RESULTS.md", import.meta.url));

function table(rows: Row[]): string {
  return [
    "| measure | result | note |",
    "| --- | --- | --- |",
    ...rows.map((r) => `| ${r.name} | ${r.value} | ${r.note ?? ""} |`),
  ].join("\n");
}

const rows = await benchEmulator();
const cpu = os.cpus()[0]?.model ?? "unknown CPU";
const section = `## ${new Date().toISOString().slice(0, 10)}: emulator\n\nCommand: \`npm run build && npm run bench\`. Machine: ${os.cpus().length} × ${cpu}, Node ${process.version}.\n\n${table(rows)}\n`;
process.stdout.write(`${section}\n`);

let previous = "";
try {
  previous = readFileSync(results, "utf8").replace(/^# Benchmark results\n+/, "");
} catch {
  // first run
}
writeFileSync(
  results,
  `# Benchmark results\n\nNewest first. Each section: date, command, machine, figures.\n\n${section}\n${previous.replace(/^Newest first[^\n]*\n+/, "")}`,
);
