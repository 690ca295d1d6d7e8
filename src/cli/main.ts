#!/usr/bin/env node
/** The `bedrock-claude` command. One file per subcommand. */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { registerAsk } from "./ask.js";
import { registerChat } from "./chat.js";
import { registerDoctor } from "./doctor.js";
import { registerDrill } from "./drill.js";
import { registerEmulate } from "./emulate.js";
import { describeFailure } from "./errors.js";
import { registerKeys } from "./keys.js";
import { registerModels } from "./models.js";
import { registerServe } from "./serve.js";
import { registerUsage } from "./usage.js";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

const program = new Command()
  .name("bedrock-claude")
  .description("Claude on AWS Bedrock in production")
  .version(pkg.version)
  .showHelpAfterError();

registerAsk(program);
registerChat(program);
registerModels(program);
registerDrill(program);
registerDoctor(program);
registerEmulate(program);
registerUsage(program);
registerServe(program);
registerKeys(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  const { message, code } = describeFailure(error);
  process.stderr.write(`bedrock-claude: ${message}\n`);
  process.exit(code);
});
