/**
 * Our gateway in a benchmark child (from dist/: `npm run build` first), on 127.0.0.1, in front of
 * the emulator at argv[2]; its ledger and keys in the folder argv[3]; then any of `ledger-off` (no
 * ledger), `upstream-connections=N` (a what-if: an upstream undici Agent capped at N connections
 * per origin; the shipped one has no cap) and `nodelay` (kept for comparisons with older runs: the
 * listening socket's connections with TCP_NODELAY, which the shipped server now sets itself).
 * Reports its CPU and RSS over IPC (see child-ipc.ts, which runs it transpiled, with `BENCH_ROOT`
 * set to the repository). Logging as shipped: JSON lines on stdout, which the parent reads and
 * discards.
 */
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { serveParent } from "./child-serve.js";

type GatewayModule = typeof import("../src/gateway/index.js");
type UpstreamModule = typeof import("../src/transport/upstream.js");
type Undici = typeof import("undici");
const [endpoint, dir, ...flags] = process.argv.slice(2);
if (!endpoint || !dir) {
  throw new Error("usage: gateway-child.js EMULATOR_URL DIR [ledger-off] [upstream-connections=N] [nodelay]");
}
if (flags.includes("nodelay")) {
  const createServer = net.createServer;
  const patched = (options?: unknown, listener?: unknown) =>
    typeof options === "function" || options === undefined
      ? createServer({ noDelay: true }, options as (socket: net.Socket) => void)
      : createServer(
          { ...(options as net.ServerOpts), noDelay: true },
          listener as (socket: net.Socket) => void,
        );
  net.createServer = patched as typeof net.createServer;
}
const root = process.env.BENCH_ROOT ?? process.cwd();
const load = async <T>(file: string): Promise<T> => (await import(pathToFileURL(file).href)) as T;
const { startGateway } = await load<GatewayModule>(path.join(root, "dist/gateway/index.js"));

const connections = Number(flags.find((f) => f.startsWith("upstream-connections="))?.split("=")[1] ?? 0);
let upstream: ReturnType<UpstreamModule["createUpstreamFetch"]> | undefined;
if (connections > 0) {
  const { createUpstreamFetch } = await load<UpstreamModule>(path.join(root, "dist/transport/upstream.js"));
  const { Agent } = await load<Undici>(createRequire(path.join(root, "package.json")).resolve("undici"));
  // The shipped dispatcher's settings (src/transport/upstream.ts), but at most N connections.
  upstream = createUpstreamFetch(
    new Agent({
      keepAliveTimeout: 30_000,
      connections,
      connect: { timeout: 10_000 },
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
    }),
  );
}
const gateway = await startGateway({
  port: 0,
  host: "127.0.0.1",
  provider: "bedrock",
  region: "us-west-2",
  endpoint,
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
  discovery: false,
  ...(upstream ? { upstream } : {}),
  ledger: flags.includes("ledger-off") ? false : { path: path.join(dir, "ledger.db") },
  keys: { path: path.join(dir, "keys.db") },
});
serveParent(gateway.url, () => gateway.close());
