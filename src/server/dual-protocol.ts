/**
 * One port for HTTP/1.1 and clear-text HTTP/2 together. The AWS SDK's runtime client opens
 * HTTP/2 with prior knowledge on an `http://` endpoint, while fetch-based clients speak HTTP/1.1;
 * a connection is told apart by its first bytes (the HTTP/2 preface starts `PRI * HTTP/2.0`, a
 * method no HTTP/1.1 client sends) and handed to the matching Node server.
 * Shared by the emulator and the gateway.
 */
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";

export type RequestListener = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface DualProtocolServer {
  /** The bound port (useful with port 0). */
  port: number;
  host: string;
  url: string;
  /**
   * Stops taking connections and asks open ones to finish: idle HTTP/1.1 connections close, busy
   * ones close after their response; HTTP/2 sessions get GOAWAY and finish their streams.
   */
  stopAccepting(): void;
  /** Closes everything now, in-flight requests included. */
  close(): Promise<void>;
}

export interface ServerTimeouts {
  /** Time allowed for a client to send its request headers, ms (Node's default 60 s). */
  headersTimeoutMs?: number;
  /** Idle keep-alive connections close after, ms (default 65 s: longer than common load balancers' 60 s). */
  keepAliveTimeoutMs?: number;
}

const PREFACE = Buffer.from("PRI ");

/** The body a server writes for a request Node's HTTP parser refused (too large, bad method...). */
export type ClientErrorBody = (
  status: number,
  reason: string,
) => { contentType: string; body: string; headers?: Record<string, string> };

const PARSER_STATUS: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_INVALID_METHOD: 400,
  HPE_INVALID_URL: 400,
};

export async function listenDualProtocol(
  listener: RequestListener,
  port: number,
  host: string,
  clientErrorBody?: ClientErrorBody,
  timeouts: ServerTimeouts = {},
): Promise<DualProtocolServer> {
  const keepAliveTimeout = timeouts.keepAliveTimeoutMs ?? 65_000;
  const h1 = http.createServer(
    {
      keepAliveTimeout,
      ...(timeouts.headersTimeoutMs ? { headersTimeout: timeouts.headersTimeoutMs } : {}),
    },
    listener,
  );
  // Without this, Node answers a request its parser refuses with a bare status and no body.
  h1.on("clientError", (error: NodeJS.ErrnoException, socket: net.Socket) => {
    if (!socket.writable || error.code === "ECONNRESET" || !clientErrorBody) {
      socket.destroy();
      return;
    }
    const status = PARSER_STATUS[error.code ?? ""] ?? 400;
    const reason = status === 431 ? "Request header fields too large" : "Bad request";
    const { contentType, body, headers = {} } = clientErrorBody(status, reason);
    const extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("");
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: ${contentType}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`,
    );
  });
  const h2 = http2.createServer({}, listener);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    // An idle HTTP/2 session closes after the same time as an idle HTTP/1.1 connection.
    session.setTimeout(keepAliveTimeout, () => session.close());
    session.on("close", () => sessions.delete(session));
  });

  // noDelay: the sockets are handed to Node's HTTP servers after the sniff, so their own noDelay
  // default never applies; without it Nagle holds each small SSE write for the client's delayed
  // ACK (measured through the gateway: +43 ms p50 per short stream, +1.1 ms with it).
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    // A client that resets the connection must not take the process down.
    socket.on("error", () => socket.destroy());
    let head = Buffer.alloc(0);
    const sniff = () => {
      let chunk: Buffer | null;
      // biome-ignore lint/suspicious/noAssignInExpressions: the stream idiom for draining read()
      while ((chunk = socket.read() as Buffer | null) !== null) head = Buffer.concat([head, chunk]);
      if (head.length < PREFACE.length && !socket.readableEnded) return;
      socket.off("readable", sniff);
      socket.unshift(head);
      const target = head.subarray(0, PREFACE.length).equals(PREFACE) ? h2 : h1;
      target.emit("connection", socket);
    };
    socket.on("readable", sniff);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;
  const urlHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    port: address.port,
    host: address.address,
    url: `http://${urlHost}:${address.port}`,
    stopAccepting() {
      server.close();
      h1.closeIdleConnections();
      // Responses from now on carry `connection: close`.
      h1.on("request", (_req, res) => res.setHeader("connection", "close"));
      for (const session of sessions) session.close();
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
      h1.closeAllConnections();
      await closed;
    },
  };
}
