/**
 * The request the transport was handed, in the Anthropic Messages API's HTTP shape, read once:
 * which operation, its headers in lower case, and its JSON body.
 */
export type Operation = "messages" | "count_tokens" | "models" | "model" | "other";

export interface IncomingCall {
  operation: Operation;
  method: string;
  url: URL;
  headers: Map<string, string>;
  /** The JSON body, when there is one and it parses. */
  body: Record<string, unknown> | undefined;
  /** The raw body text, for pass-through. */
  rawBody: string | undefined;
  signal: AbortSignal | undefined;
  /** `GET /v1/models/{id}`. */
  modelId?: string;
}

export class BadRequest extends Error {}

function operationOf(method: string, path: string): { operation: Operation; modelId?: string } {
  if (method === "POST" && /\/v1\/messages\/?$/.test(path)) return { operation: "messages" };
  if (method === "POST" && /\/v1\/messages\/count_tokens\/?$/.test(path))
    return { operation: "count_tokens" };
  if (method === "GET" && /\/v1\/models\/?$/.test(path)) return { operation: "models" };
  const model = /\/v1\/models\/([^/]+)\/?$/.exec(path);
  if (method === "GET" && model) return { operation: "model", modelId: decodeURIComponent(model[1]!) };
  return { operation: "other" };
}

async function bodyText(
  input: RequestInfo | URL,
  init: RequestInit | undefined,
): Promise<string | undefined> {
  const body = init?.body ?? (input instanceof Request ? input.body : undefined);
  if (body === undefined || body === null) return undefined;
  if (typeof body === "string") return body;
  if (body instanceof Uint8Array || body instanceof ArrayBuffer) return new TextDecoder().decode(body);
  return new Response(body as BodyInit).text();
}

export async function readCall(input: RequestInfo | URL, init?: RequestInit): Promise<IncomingCall> {
  const url = new URL(input instanceof Request ? input.url : input.toString());
  const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
  const headers = new Map<string, string>();
  const source = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
  for (const [name, value] of source) headers.set(name.toLowerCase(), value);
  const rawBody = await bodyText(input, init);
  let body: Record<string, unknown> | undefined;
  const { operation, modelId } = operationOf(method, url.pathname);
  if (rawBody !== undefined && (operation === "messages" || operation === "count_tokens")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawBody);
    } catch {
      throw new BadRequest("The request body is not valid JSON.");
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new BadRequest("The request body must be a JSON object.");
    }
    body = parsed as Record<string, unknown>;
    if (typeof body.model !== "string") throw new BadRequest("model: Field required");
  }
  return {
    operation,
    method,
    url,
    headers,
    body,
    rawBody,
    signal: init?.signal ?? (input instanceof Request ? input.signal : undefined),
    modelId,
  };
}

export function betasOf(call: IncomingCall): string[] {
  const header = call.headers.get("anthropic-beta");
  const fromHeader = header
    ? header
        .split(",")
        .map((b) => b.trim())
        .filter(Boolean)
    : [];
  const fromBody = Array.isArray(call.body?.anthropic_beta) ? (call.body.anthropic_beta as string[]) : [];
  return [...new Set([...fromBody, ...fromHeader])];
}
