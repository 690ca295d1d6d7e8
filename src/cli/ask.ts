/** `bedrock-claude ask`: one message; the prompt from arguments or stdin; text streamed as it arrives. */
import type { Command } from "commander";
import { createClient } from "../client.js";
import { shippedCatalog } from "../models/catalog.js";
import { EXIT } from "./errors.js";
import { printSummary } from "./summary.js";
import { addUpstreamOptions, type UpstreamFlags, UsageError, upstreamFrom } from "./upstream-options.js";

interface AskFlags extends UpstreamFlags {
  maxTokens: string;
  system?: string;
  json?: boolean;
  stream: boolean;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8").trim();
}

export function positiveInteger(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new UsageError(`--${name} must be a positive whole number, got "${value}"`);
  return n;
}

export function registerAsk(program: Command): void {
  addUpstreamOptions(
    program
      .command("ask")
      .description("send one message and print the answer as it streams")
      .argument("[prompt...]", "the prompt (default: read from stdin)"),
  )
    .option("--model <model>", "model: Anthropic name, alias, Bedrock id, inference profile or ARN")
    .option("--max-tokens <n>", "most output tokens", "1024")
    .option("--system <text>", "system prompt")
    .option("--json", "print the whole Message as JSON (no streaming)")
    .option("--no-stream", "wait for the whole answer instead of streaming it")
    .action(async (words: string[], flags: AskFlags) => {
      const maxTokens = positiveInteger("max-tokens", flags.maxTokens);
      const prompt = words.length > 0 ? words.join(" ") : process.stdin.isTTY ? "" : await readStdin();
      if (!prompt) throw new UsageError('Give a prompt: bedrock-claude ask "..." or pipe it on stdin.');
      const upstream = await upstreamFrom(flags);
      try {
        const client = createClient({ ...upstream.options, warn: (m) => process.stderr.write(`${m}\n`) });
        const params = {
          model: flags.model ?? shippedCatalog().defaultModel,
          max_tokens: maxTokens,
          messages: [{ role: "user" as const, content: prompt }],
          ...(flags.system ? { system: flags.system } : {}),
        };
        if (flags.json || !flags.stream) {
          const { data: message, response } = await client.messages.create(params).withResponse();
          if (flags.json) process.stdout.write(`${JSON.stringify(message, null, 2)}\n`);
          else
            process.stdout.write(
              `${message.content.map((b) => (b.type === "text" ? b.text : "")).join("")}\n`,
            );
          printSummary(message, response.headers);
        } else {
          const stream = client.messages.stream(params);
          stream.on("text", (text) => process.stdout.write(text));
          const message = await stream.finalMessage();
          process.stdout.write("\n");
          printSummary(message, stream.response?.headers);
        }
      } finally {
        await upstream.close();
      }
      process.exitCode = EXIT.ok;
    });
}
