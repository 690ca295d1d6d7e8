/**
 * bench/RESULTS.md: one writer for every runner. Each run prepends a dated section (title, the
 * command that reproduces it, the machine, then one table per benchmark), newest first.
 */
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import type { Row } from "./emulator.js";

const RESULTS = fileURLToPath(new URL("./RESULTS.md", import.meta.url));
const HEADER = "# Benchmark results\n\nNewest first. Each section: date, command, machine, figures.\n\n";

export interface ResultSection {
  title: string;
  intro?: string;
  rows: Row[];
}

export function table(rows: Row[]): string {
  return [
    "| measure | result | note |",
    "| --- | --- | --- |",
    ...rows.map((r) => `| ${r.name} | ${r.value} | ${r.note ?? ""} |`),
  ].join("\n");
}

/** Prepends `## date: heading` with the command, the machine and the sections' tables. */
export function prependResults(heading: string, command: string, sections: ResultSection[]): void {
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const section = [
    `## ${new Date().toISOString().slice(0, 10)}: ${heading}`,
    `Command: \`${command}\`. Machine: ${os.cpus().length} × ${cpu}, Node ${process.version}.`,
    ...sections.map((s) => `### ${s.title}\n\n${s.intro ? `${s.intro}\n\n` : ""}${table(s.rows)}`),
  ].join("\n\n");
  let previous = "";
  try {
    previous = readFileSync(RESULTS, "utf8").replace(/^# Benchmark results\n+/, "");
  } catch {
    // first run
  }
  writeFileSync(RESULTS, `${HEADER}${section}\n\n${previous.replace(/^Newest first[^\n]*\n+/, "")}`);
}
