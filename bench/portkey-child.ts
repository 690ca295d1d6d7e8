/**
 * The open-source Portkey gateway (`@portkey-ai/gateway`, its Node server `build/start-server.js`,
 * `--headless`) in a benchmark child, reporting its CPU and RSS over IPC (see child-ipc.ts).
 *
 * Its server takes `--port=N` but no host: it calls `serve({ fetch, port })`, which listens on
 * every interface. So that the benchmark binds to loopback only, `net.Server.listen(port, ...)` is
 * wrapped here to listen on 127.0.0.1 (port 0: a free one) before Portkey's module is loaded.
 */
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { serveParent } from "./child-serve.js";

const listen = net.Server.prototype.listen;
let announced = false;
net.Server.prototype.listen = function patchedListen(this: net.Server, ...args: unknown[]) {
  if (typeof args[0] === "number") {
    const callback = args.find((a) => typeof a === "function") as (() => void) | undefined;
    this.once("listening", () => {
      const address = this.address() as net.AddressInfo;
      if (!announced) {
        announced = true;
        serveParent(`http://127.0.0.1:${address.port}`, async () => {
          this.close();
        });
      }
    });
    return listen.call(this, { port: 0, host: "127.0.0.1" }, callback);
  }
  return (listen as (...a: unknown[]) => net.Server).apply(this, args);
} as typeof net.Server.prototype.listen;

const require = createRequire(path.join(process.env.BENCH_ROOT ?? process.cwd(), "package.json"));
const main = require
  .resolve("@portkey-ai/gateway/package.json")
  .replace(/package\.json$/, "build/start-server.js");
process.argv = [process.argv[0]!, main, "--headless"];
await import(pathToFileURL(main).href);
