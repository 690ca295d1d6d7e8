/**
 * Our gateway in a benchmark child (from dist/: `npm run build` first), on 127.0.0.1, in front of
 * the emulator at argv[2]; its ledger and keys in the folder argv[3]; `ledger-off` after them runs
 * it without a ledger. Reports its CPU and RSS over IPC (see child-ipc.ts, which runs it
 * transpiled, with `BENCH_ROOT` set to the repository). Logging as shipped: JSON lines on stdout,
 * which the parent reads and discards.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import { serveParent } from "./child-serve.js";

type GatewayModule = typeof import("../src/gateway/index.js");
const [endpoint, dir, ...flags] = process.argv.slice(2);
if (!endpoint || !dir) throw new Error("usage: gateway-child.js EMULATOR_URL DIR [ledger-off]");
const root = process.env.BENCH_ROOT ?? process.cwd();
const { startGateway } = (await import(
  pathToFileURL(path.join(root, "dist/gateway/index.js")).href
)) as GatewayModule;

const gateway = await startGateway({
  port: 0,
  host: "127.0.0.1",
  provider: "bedrock",
  region: "us-west-2",
  endpoint,
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
  discovery: false,
  ledger: flags.includes("ledger-off") ? false : { path: path.join(dir, "ledger.db") },
  keys: { path: path.join(dir, "keys.db") },
});
serveParent(gateway.url, () => gateway.close());
