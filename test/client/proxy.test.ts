/**
 * HTTP(S)_PROXY is honoured: Node's own fetch ignores it, the transport's client does not.
 * (Its own file: the process-wide dispatcher is chosen from the environment on first use.)
 */
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "../../src/client.js";
import { TEST_CREDENTIALS, useEmulator } from "../helpers.js";

const emulator = useEmulator();
const seen: string[] = [];
const tunnels = new Set<net.Socket>();
let proxy: http.Server;

beforeAll(async () => {
  // A forward proxy: plain-HTTP requests arrive with an absolute URI, which it relays.
  proxy = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const target = new URL(req.url!);
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: req.method,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  // Tunnels (CONNECT), as HTTPS proxies carry TLS and undici carries every request by default.
  proxy.on("connect", (req, client, head) => {
    seen.push(`CONNECT ${req.url}`);
    tunnels.add(client as net.Socket);
    const [host, port] = req.url!.split(":");
    const upstream = net.connect(Number(port), host!, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  process.env.HTTP_PROXY = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  delete process.env.HTTP_PROXY;
  for (const socket of tunnels) socket.destroy();
  proxy.closeAllConnections();
  await new Promise((resolve) => proxy.close(resolve));
});

describe("proxies", () => {
  it("sends upstream calls through HTTP_PROXY", async () => {
    const client = createClient({
      region: "us-east-1",
      endpoint: emulator.current.url,
      credentials: TEST_CREDENTIALS,
    });
    const message = await client.messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 20,
      messages: [{ role: "user", content: "through the proxy" }],
    });
    expect(message.content[0]).toMatchObject({ type: "text" });
    const host = new URL(emulator.current.url).host;
    expect(seen.length).toBeGreaterThan(0);
    expect(
      seen.every(
        (line) => line === `CONNECT ${host}` || line.startsWith(`POST ${emulator.current.url}/model/`),
      ),
    ).toBe(true);
  });
});
