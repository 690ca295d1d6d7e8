/** `BEDROCK_CLAUDE_HOME`: where the ledger, keys, caches and config live (default: the XDG data dir). */
import os from "node:os";
import path from "node:path";

export function bedrockClaudeHome(env = process.env): string {
  if (env.BEDROCK_CLAUDE_HOME) return env.BEDROCK_CLAUDE_HOME;
  const data = env.XDG_DATA_HOME || path.join(os.homedir(), ".local", "share");
  return path.join(data, "bedrock-claude");
}
