/**
 * The emulator in a benchmark child (from dist/: `npm run build` first), on 127.0.0.1 with no added
 * latency (or `eventMs` between stream events when argv[2] gives it), reporting its CPU and RSS over IPC (see child-ipc.ts, which runs it transpiled, with
 * `BENCH_ROOT` set to the repository).
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import { serveParent } from "./child-serve.js";

type EmulatorModule = typeof import("../src/emulator/index.js");
const root = process.env.BENCH_ROOT ?? process.cwd();
const { startEmulator } = (await import(
  pathToFileURL(path.join(root, "dist/emulator/index.js")).href
)) as EmulatorModule;

const eventMs = Number(process.argv[2] ?? 0);
const emulator = await startEmulator({
  port: 0,
  host: "127.0.0.1",
  config: eventMs > 0 ? { pace: { firstByteMs: 0, eventMs } } : undefined,
});
serveParent(emulator.url, () => emulator.close());
