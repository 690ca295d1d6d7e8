/** Cutting a client off mid-exchange, for the `ConnectionReset` fault. */
import { constants as http2 } from "node:http2";
import type { NodeBindings } from "./http.js";

/** HTTP/1.1: destroy the socket (the client sees ECONNRESET). HTTP/2: reset the stream. */
export function resetConnection(bindings: NodeBindings): void {
  const incoming = bindings.incoming as {
    stream?: { close(code: number): void };
    socket?: { destroy(): void };
  };
  if (incoming.stream) incoming.stream.close(http2.NGHTTP2_INTERNAL_ERROR);
  else incoming.socket?.destroy();
}
