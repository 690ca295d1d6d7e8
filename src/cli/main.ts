#!/usr/bin/env node
/** The `bedrock-claude` command. One file per subcommand. */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { registerEmulate } from "./emulate.js";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

const program = new Command()
  .name("bedrock-claude")
  .description("Claude on AWS Bedrock in production")
  .version(pkg.version)
  .showHelpAfterError();

registerEmulate(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`bedrock-claude: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
});
