/** `bedrock-claude doctor`: the preflight; one line per check, the fix under each failure. */
import type { Command } from "commander";
import type { CheckStatus, DoctorReport } from "../doctor/report.js";
import { runDoctor } from "../doctor/run.js";
import { EXIT } from "./errors.js";
import { addUpstreamOptions, type UpstreamFlags, upstreamFrom } from "./upstream-options.js";

interface DoctorFlags extends UpstreamFlags {
  model?: string;
  invoke?: boolean;
  json?: boolean;
}

const MARKS: Record<CheckStatus, string> = { pass: "✓", warn: "!", fail: "✗", skip: "-" };
const COLOURS: Record<CheckStatus, string> = { pass: "32", warn: "33", fail: "31", skip: "90" };

/** Colour only on a terminal, and never when NO_COLOR is set (no-color.org). */
function painter(): (status: CheckStatus, text: string) => string {
  const colour = process.stdout.isTTY && !process.env.NO_COLOR;
  return (status, text) => (colour ? `\u001b[${COLOURS[status]}m${text}\u001b[0m` : text);
}

export function formatReport(report: DoctorReport): string {
  const paint = painter();
  const lines: string[] = [];
  for (const target of report.targets) {
    lines.push(`${target.target}`);
    for (const check of target.checks) {
      lines.push(`  ${paint(check.status, MARKS[check.status])} ${check.title}: ${check.detail}`);
      if (check.fix && check.status !== "pass") {
        for (const line of check.fix.split("\n")) lines.push(`      ${line}`);
      }
    }
  }
  lines.push("");
  lines.push(...report.summary.map((s) => `${report.ok ? "" : ""}${s}`));
  lines.push(
    report.ok
      ? "All checks passed."
      : "Some checks failed: fix the first one above, then run the doctor again.",
  );
  return `${lines.join("\n")}\n`;
}

export function registerDoctor(program: Command): void {
  addUpstreamOptions(
    program
      .command("doctor")
      .description("check every link from credentials to a real call, and say how to fix the broken one"),
  )
    .option("--model <model>", "the model to check")
    .option("--invoke", "prove the permission with a real 1-token call (costs a fraction of a cent)")
    .option("--json", "print the report as JSON")
    .action(async (flags: DoctorFlags) => {
      const upstream = await upstreamFrom(flags);
      try {
        const report = await runDoctor({
          ...upstream.options,
          model: flags.model,
          invoke: flags.invoke,
          ledger: false,
        });
        process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
        process.exitCode = report.ok ? EXIT.ok : EXIT.failure;
      } finally {
        await upstream.close();
      }
    });
}
