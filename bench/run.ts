/**
 * `npm run bench`: runs every benchmark in one process, prints the tables, and prepends a dated
 * section (one subsection per benchmark) to bench/RESULTS.md. Needs `npm run build` first (the
 * CLI start is measured on dist/, and the client benchmark runs the emulator from dist/).
 */
import { benchClient } from "./client.js";
import { benchEmulator } from "./emulator.js";
import { benchGateway } from "./gateway.js";
import { benchLedger } from "./ledger.js";
import { benchResilience } from "./resilience.js";
import { prependResults, type ResultSection, table } from "./results.js";

/** `npm run bench -- resilience client` runs only the named benchmarks; all without names. */
const only = new Set(process.argv.slice(2));
const wanted = (name: string) => only.size === 0 || only.has(name);

const sections: ResultSection[] = [];
if (wanted("emulator")) sections.push({ title: "Emulator", rows: await benchEmulator() });
if (wanted("client")) {
  sections.push({
    title: "Client",
    intro:
      "`createClient()` (ours), `AnthropicBedrock` (`@anthropic-ai/bedrock-sdk`) and the raw AWS SDK against one " +
      "emulator in a child process with no added latency; CPU is this process's `process.cpuUsage()` (user + " +
      "system) per call, so the emulator's CPU is not counted.",
    rows: await benchClient(),
  });
}
if (wanted("resilience")) {
  sections.push({
    title: "Resilience layer",
    intro:
      "The attempt loop around an in-process upstream that answers at once, against the same upstream read directly; 50,000 calls each.",
    rows: await benchResilience(),
  });
}
if (wanted("ledger")) {
  sections.push({
    title: "Usage ledger",
    intro:
      "`SqliteLedger.record()` alone, the recorder on the response path (in-process, and end to end through " +
      "`createClient` with the ledger off and on against an emulator in a child process), and reports over a " +
      "ledger of 1,000,000 requests. Targets (issue 5): recording adds under 50 µs per request; a report over 1M " +
      "rows under one second.",
    rows: await benchLedger(),
  });
}
if (wanted("gateway")) {
  sections.push({
    title: "Gateway",
    intro:
      "The emulator called directly (`/model/{id}/invoke`, SigV4, what the gateway calls) versus through the gateway's " +
      "`/v1/messages` (JSON; SSE with `stream: true`), emulator, gateway and load generator (undici) each in its own " +
      "process on 127.0.0.1; gateway CPU is its own `process.cpuUsage()`. Targets (issue 7): added p50 under 0.5 ms and " +
      "p99 under 2 ms at concurrency 1; under 150 µs of gateway CPU per non-streaming request; 1,000 concurrent " +
      "streams under 256 MB RSS.",
    rows: await benchGateway(),
  });
}
for (const s of sections) process.stdout.write(`### ${s.title}\n\n${table(s.rows)}\n\n`);

const command = only.size === 0 ? "npm run bench" : `npm run bench -- ${[...only].join(" ")}`;
prependResults(sections.map((s) => s.title.toLowerCase()).join(", "), command, sections);
