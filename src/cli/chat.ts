/**
 * `bedrock-claude chat`: a conversation in the terminal. History is kept for the session; answers
 * stream; `/exit` or Ctrl-D leaves; Ctrl-C stops the answer being written (and leaves at an empty
 * prompt); `/reset` forgets the history.
 */
import readline from "node:readline";
import type { MessageParam } from "@anthropic-ai/sdk/resources/messages";
import type { Command } from "commander";
import { createClient } from "../client.js";
import { shippedCatalog } from "../models/catalog.js";
import { positiveInteger } from "./ask.js";
import { describeFailure } from "./errors.js";
import { printSummary } from "./summary.js";
import { addUpstreamOptions, type UpstreamFlags, upstreamFrom } from "./upstream-options.js";

interface ChatFlags extends UpstreamFlags {
  maxTokens: string;
  system?: string;
}

export function registerChat(program: Command): void {
  addUpstreamOptions(program.command("chat").description("talk with Claude in the terminal"))
    .option("--model <model>", "model: Anthropic name, alias, Bedrock id, inference profile or ARN")
    .option("--max-tokens <n>", "most output tokens per answer", "4096")
    .option("--system <text>", "system prompt")
    .action(async (flags: ChatFlags) => {
      const maxTokens = positiveInteger("max-tokens", flags.maxTokens);
      const upstream = await upstreamFrom(flags);
      const client = createClient({ ...upstream.options, warn: (m) => process.stderr.write(`${m}\n`) });
      const model = flags.model ?? shippedCatalog().defaultModel;
      const history: MessageParam[] = [];
      const rl = readline.createInterface({ input: process.stdin, output: process.stdout, prompt: "you> " });
      let answering: AbortController | undefined;
      const interrupt = () => {
        if (answering) answering.abort();
        else rl.close();
      };
      rl.on("SIGINT", interrupt);
      process.on("SIGINT", interrupt);
      process.stdout.write(
        `Chatting with ${model}. /exit or Ctrl-D to leave, Ctrl-C stops an answer, /reset forgets.\n`,
      );
      rl.prompt();
      try {
        for await (const line of rl) {
          const text = line.trim();
          if (text === "/exit" || text === "/quit") break;
          if (text === "/reset") {
            history.length = 0;
            process.stdout.write("(history cleared)\n");
          } else if (text) {
            history.push({ role: "user", content: text });
            answering = new AbortController();
            try {
              const stream = client.messages.stream(
                {
                  model,
                  max_tokens: maxTokens,
                  messages: history,
                  ...(flags.system ? { system: flags.system } : {}),
                },
                { signal: answering.signal },
              );
              process.stdout.write("claude> ");
              stream.on("text", (delta) => process.stdout.write(delta));
              const message = await stream.finalMessage();
              process.stdout.write("\n");
              const answer = message.content.flatMap((b) =>
                b.type === "text" ? [{ type: "text" as const, text: b.text }] : [],
              );
              history.push({ role: "assistant", content: answer.length > 0 ? answer : "(no text)" });
              printSummary(message, stream.response?.headers);
            } catch (error) {
              history.pop();
              if (answering.signal.aborted) process.stdout.write("\n(stopped)\n");
              else process.stderr.write(`\n${describeFailure(error).message}\n`);
            } finally {
              answering = undefined;
            }
          }
          rl.prompt();
        }
      } finally {
        rl.close();
        process.off("SIGINT", interrupt);
        await upstream.close();
      }
    });
}
