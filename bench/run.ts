/**
 * `npm run bench`: runs every benchmark in one process, prints the tables, and prepends a dated
 * section (one subsection per benchmark) to bench/RESULTS.md. Needs `npm run build` first (the
 * CLI start is measured on dist/, and the client benchmark runs the emulator from dist/).
 */
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { benchClient } from "./client.js";
import { benchEmulator, type Row } from "./emulator.js";

const results = fileURLToPath(new URL("./RESULTS.md", import.meta.url));

function table(rows: Row[]): string {
  return [
    "| measure | result | note |",
    "| --- | --- | --- |",
    ...rows.map((r) => `| ${r.name} | ${r.value} | ${r.note ?? ""} |`),
  ].join("\n");
}

const emulatorRows = await benchEmulator();
process.stdout.write(`### Emulator\n\n${table(emulatorRows)}\n\n`);
const clientRows = await benchClient();
process.stdout.write(`### Client\n\n${table(clientRows)}\n\n`);

const cpu = os.cpus()[0]?.model ?? "unknown CPU";
const section = [
  `## ${new Date().toISOString().slice(0, 10)}: emulator and client`,
  `Command: \`npm run build && npm run bench\`. Machine: ${os.cpus().length} × ${cpu}, Node ${process.version}.`,
  `### Emulator\n\n${table(emulatorRows)}`,
  "### Client\n\n" +
    "`createClient()` (ours), `AnthropicBedrock` (`@anthropic-ai/bedrock-sdk`) and the raw AWS SDK against one " +
    "emulator in a child process with no added latency; CPU is this process's `process.cpuUsage()` (user + " +
    "system) per call, so the emulator's CPU is not counted.\n\n" +
    table(clientRows),
].join("\n\n");

let previous = "";
try {
  previous = readFileSync(results, "utf8").replace(/^# Benchmark results\n+/, "");
} catch {
  // first run
}
writeFileSync(
  results,
  `# Benchmark results\n\nNewest first. Each section: date, command, machine, figures.\n\n${section}\n\n${previous.replace(/^Newest first[^\n]*\n+/, "")}`,
);
