/**
 * The emulator as a child process, started from dist/ (`npm run bench` builds first), so that a
 * benchmark's own CPU figures do not include the emulator's.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface Emulator {
  url: string;
  child: ChildProcess;
}

/** `bedrock-claude emulate --port 0` in a child process; resolves with the URL it prints. */
export async function spawnEmulator(): Promise<Emulator> {
  const main = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
  const child = spawn(process.execPath, [main, "emulate", "--port", "0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`emulate exited ${code} (run \`npm run build\` first)`)));
  });
  // Keep reading: a full pipe would block the child.
  child.stdout!.resume();
  return { url, child };
}

export async function stopEmulator(emulator: Emulator): Promise<void> {
  if (emulator.child.exitCode !== null) return;
  const exited = new Promise((resolve) => emulator.child.once("exit", resolve));
  emulator.child.kill("SIGTERM");
  await exited;
}
