/**
 * The floor a Node gateway stands on, in a benchmark child: a bare HTTP proxy (node:http in,
 * undici `request()` out, the answer piped back) with no logic at all: no auth, no parsing, no
 * signing, no ledger. It forwards `POST /v1/messages` to the emulator at argv[2] (its Anthropic API
 * endpoint, so that nothing needs signing). Whatever CPU it uses per request, a gateway written in
 * Node on this machine cannot use less.
 */

import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { serveParent } from "./child-serve.js";

type Undici = typeof import("undici");
const [endpoint, apiKey] = process.argv.slice(2);
if (!endpoint || !apiKey) throw new Error("usage: proxy-child.js EMULATOR_URL ANTHROPIC_API_KEY");
const root = process.env.BENCH_ROOT ?? process.cwd();
const undiciPath = createRequire(path.join(root, "package.json")).resolve("undici");
const { Agent } = (await import(pathToFileURL(undiciPath).href)) as Undici;
const agent = new Agent({ keepAliveTimeout: 30_000 });
const origin = new URL(endpoint).origin;

const server = http.createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const answer = await agent.request({
    origin,
    path: "/v1/messages",
    method: "POST",
    headers: {
      "content-type": "application/json",
      "anthropic-version": "2023-06-01",
      "x-api-key": apiKey,
    },
    body: Buffer.concat(chunks),
  });
  res.writeHead(answer.statusCode, { "content-type": String(answer.headers["content-type"] ?? "") });
  answer.body.pipe(res);
});
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as { port: number };
  serveParent(`http://127.0.0.1:${port}`, () => new Promise((resolve) => server.close(() => resolve())));
});
