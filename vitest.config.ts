import os from "node:os";
import path from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Tests start real servers on 127.0.0.1 port 0; files run in parallel, each with its own.
    pool: "forks",
    env: {
      // The AWS SDK warns once per process that its 2027 releases will need Node 22.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      // Tests never write the user's own ledger or config.
      BEDROCK_CLAUDE_HOME: path.join(os.tmpdir(), `bedrock-claude-vitest-${process.pid}`),
    },
  },
});
