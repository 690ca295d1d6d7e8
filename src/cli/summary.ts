/** The line the CLI prints on stderr after an answer: model, target, tokens, stop reason. */
import type { Message } from "@anthropic-ai/sdk/resources/messages";

export function printSummary(message: Message, headers?: Headers | null): void {
  const target = headers?.get("x-bedrock-claude-target");
  const resolved = headers?.get("x-bedrock-claude-model");
  const parts = [
    message.model,
    target ? `${target}${resolved && resolved !== message.model ? ` (${resolved})` : ""}` : undefined,
    `in ${message.usage.input_tokens}`,
    `out ${message.usage.output_tokens}`,
    message.usage.cache_read_input_tokens ? `cache read ${message.usage.cache_read_input_tokens}` : undefined,
    message.usage.cache_creation_input_tokens
      ? `cache write ${message.usage.cache_creation_input_tokens}`
      : undefined,
    message.stop_reason ?? undefined,
  ].filter(Boolean);
  process.stderr.write(`[${parts.join(" · ")}]\n`);
  // Retries and failovers are worth seeing: print the attempts when there was more than one.
  const attempts = headers?.get("x-bedrock-claude-attempts");
  if (attempts?.includes(";")) process.stderr.write(`attempts: ${attempts}\n`);
  if (message.stop_reason === "max_tokens") {
    process.stderr.write(
      `warning: the answer was cut at ${message.usage.output_tokens} tokens (stop_reason max_tokens); raise --max-tokens for the whole answer.\n`,
    );
  }
}
