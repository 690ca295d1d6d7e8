/**
 * A seeded fuzz of malformed requests on every endpoint of the emulator. Every answer must be a
 * well-formed error: a 4xx status with a JSON (AWS restJson, Anthropic envelope, admin) or XML
 * (STS) error body; never a 5xx (no faults are injected here), never a hang, never a dropped
 * connection. Afterwards the emulator must still serve a valid InvokeModel through the AWS SDK.
 *
 * Each failing case is reported with its label (seed, index, what was sent) so it can be replayed.
 */
import { BedrockRuntimeClient, InvokeModelCommand } from "@aws-sdk/client-bedrock-runtime";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../src/util/random.js";
import {
  awsClientConfig,
  HAIKU_45_PROFILE,
  invokeBody,
  SONNET_46_FOUNDATION,
  SONNET_46_PROFILE,
  signedFetch,
  useEmulator,
} from "./helpers.js";

const SEED = 0x5eed_b0c;
const TIMEOUT_MS = 10_000;
const emulator = useEmulator({ seed: 7 });

/** mulberry32: a tiny seeded PRNG, so a failing case repeats on every run. */
class Rng {
  /** The project's own mulberry32 (src/util/random.ts). */
  readonly next: () => number;
  constructor(seed: number) {
    this.next = seededRandom(seed);
  }
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }
  /** Printable ASCII and Latin-1 (what an HTTP header value may carry). */
  headerValue(length: number): string {
    let out = "";
    for (let i = 0; i < length; i++) {
      const code = this.next() < 0.85 ? 0x20 + this.int(0x5f) : 0xa0 + this.int(0x60);
      out += String.fromCharCode(code);
    }
    return out.trim() || "x";
  }
  token(length: number): string {
    const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_!#$%&'*+.^`|~";
    let out = "";
    for (let i = 0; i < length; i++) out += alphabet[this.int(alphabet.length)];
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Sending and judging

interface Case {
  label: string;
  method: string;
  send: () => Promise<Response>;
}

function withTimeout<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${TIMEOUT_MS} ms (hang)`)), TIMEOUT_MS);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function describeError(error: unknown): string {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  return `${e.name}: ${e.message}${e.cause ? ` (cause: ${e.cause.code ?? ""} ${e.cause.message ?? ""})` : ""}`;
}

/** What is wrong with the answer to a malformed request (empty when it is a well-formed error). */
function judge(method: string, res: Response, text: string): string[] {
  const snippet = JSON.stringify(text.slice(0, 100));
  const type = res.headers.get("content-type") ?? "";
  if (res.status < 400) return [`accepted: ${res.status} ${type}`];
  if (res.status > 499) {
    return [`${res.status} ${res.headers.get("x-amzn-errortype")?.split(":")[0] ?? ""} ${snippet}`];
  }
  if (method === "HEAD") {
    return type.includes("json") || type.includes("xml")
      ? []
      : [`${res.status}, HEAD answer with content-type "${type}"`];
  }
  if (type.includes("application/json")) {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return [`${res.status}, content-type JSON but the body is not JSON: ${snippet}`];
    }
    const error = body?.error as { message?: unknown } | undefined;
    const message = body?.message ?? body?.Message ?? error?.message;
    if (typeof message !== "string" || message.length === 0)
      return [`${res.status}, JSON error without a message: ${snippet}`];
    const awsShape = typeof body?.message === "string" || typeof body?.Message === "string";
    if (awsShape && !res.headers.get("x-amzn-errortype"))
      return [`${res.status}, AWS error body without x-amzn-ErrorType`];
    return [];
  }
  if (type.includes("xml")) {
    const wellFormed =
      /^<\?xml[^>]*\?>\s*<ErrorResponse[\s>]/.test(text) &&
      /<Code>[^<]+<\/Code>/.test(text) &&
      /<Message>[^<]*<\/Message>/.test(text) &&
      /<\/ErrorResponse>\s*$/.test(text);
    return wellFormed ? [] : [`${res.status}, malformed XML error: ${snippet}`];
  }
  return [`${res.status} with content-type "${type || "(none)"}" and body ${snippet}`];
}

/** What kind of error came back: `403 AccessDeniedException`, `400 invalid_request_error`, `403 xml:InvalidClientTokenId`. */
function kindOf(res: Response, text: string): string {
  const awsType = res.headers.get("x-amzn-errortype")?.split(":")[0];
  const xmlCode = /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
  let anthropicType: string | undefined;
  try {
    anthropicType = (JSON.parse(text) as { error?: { type?: string } }).error?.type;
  } catch {
    // not JSON
  }
  return `${res.status} ${xmlCode ? `xml:${xmlCode}` : (anthropicType ?? awsType ?? "?")}`;
}

interface Outcome {
  failures: string[];
  /** How many answers of each kind, to show the fuzz reached many code paths. */
  kinds: Map<string, number>;
}

async function run(cases: readonly Case[]): Promise<Outcome> {
  const failures: string[] = [];
  const kinds = new Map<string, number>();
  for (const c of cases) {
    try {
      const { res, text } = await withTimeout(
        c.send().then(async (res) => ({ res, text: await res.text() })),
      );
      const kind = kindOf(res, text);
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      for (const problem of judge(c.method, res, text)) failures.push(`${c.label}: ${problem}`);
    } catch (error) {
      failures.push(`${c.label}: no well-formed answer: ${describeError(error)}`);
    }
  }
  return { failures, kinds };
}

// ---------------------------------------------------------------------------------------------
// Targets: how a body reaches each endpoint, and a valid body to start from

type Json = Record<string, unknown>;

interface BodyTarget {
  name: string;
  /** A valid body for this endpoint (mutations of it are what is sent). */
  valid: () => Json;
  send: (body: Uint8Array | string) => Promise<Response>;
  /** Admin bodies: a JSON array is a rule list there, and `[]` is valid. */
  arraysValid?: boolean;
}

const url = () => emulator.current.url;
const messagesBody = (model: string): Json => ({
  model,
  max_tokens: 64,
  messages: [{ role: "user", content: "Hello" }],
});

const TARGETS: BodyTarget[] = [
  {
    name: "invoke",
    valid: () => invokeBody(),
    send: (body) => signedFetch(url(), { path: `/model/${SONNET_46_PROFILE}/invoke`, body }),
  },
  {
    name: "invoke x",
    valid: () => invokeBody(),
    send: (body) => signedFetch(url(), { path: "/model/x/invoke", body }),
  },
  {
    name: "stream",
    valid: () => invokeBody(),
    send: (body) =>
      signedFetch(url(), { path: `/model/${HAIKU_45_PROFILE}/invoke-with-response-stream`, body }),
  },
  {
    name: "count-tokens",
    valid: () => ({
      input: { invokeModel: { body: Buffer.from(JSON.stringify(invokeBody())).toString("base64") } },
    }),
    send: (body) => signedFetch(url(), { path: `/model/${SONNET_46_FOUNDATION}/count-tokens`, body }),
  },
  {
    name: "native",
    valid: () => messagesBody(SONNET_46_PROFILE),
    send: (body) => signedFetch(url(), { path: "/anthropic/v1/messages", body }),
  },
  {
    name: "mantle",
    valid: () => messagesBody("anthropic.claude-sonnet-4-6"),
    send: (body) =>
      signedFetch(url(), {
        path: "/anthropic/v1/messages",
        service: "bedrock-mantle",
        headers: { "anthropic-version": "2023-06-01" },
        body,
      }),
  },
  {
    name: "anthropic",
    valid: () => messagesBody("claude-sonnet-4-6"),
    send: (body) =>
      fetch(`${url()}/v1/messages`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-api-key": emulator.current.credentials.anthropicApiKey,
          "anthropic-version": "2023-06-01",
        },
        body: Buffer.from(body),
      }),
  },
  {
    name: "admin faults",
    valid: () => ({ rules: [] }),
    arraysValid: true,
    send: (body) =>
      fetch(`${url()}/_emulator/faults`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: Buffer.from(body),
      }),
  },
  {
    name: "sts",
    // The body is a form; unsigned, so that no mutation can become a valid call.
    valid: () => ({ Action: "GetCallerIdentity", Version: "2011-06-15" }),
    send: (body) =>
      fetch(`${url()}/`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: Buffer.from(body),
      }),
  },
];

/** Values of the wrong type (or out of range) for each field of a Messages body. */
const WRONG_CORE: Record<string, readonly unknown[]> = {
  anthropic_version: [5, true, [], {}, null, ""],
  max_tokens: ["64", 1.5, true, [], {}, null, 0, -1],
  messages: [
    "Hello",
    5,
    {},
    true,
    null,
    [5],
    [{}],
    [{ role: "user" }],
    [{ role: 5, content: "x" }],
    [{ role: "user", content: 5 }],
  ],
  system: [5, true, {}, [5], [{ type: "text", text: 5 }]],
  temperature: ["0.5", true, [], {}, 5, -1],
  top_p: ["0.9", true, [], {}, 2],
  top_k: ["5", 1.5, true, {}, -1],
  stop_sequences: ["STOP", 5, {}, [5]],
  tools: ["x", 5, {}, [5], [{}], [{ name: 5, input_schema: {} }]],
  tool_choice: ["auto", 5, [], {}, { type: 5 }, { type: "tool" }],
  thinking: ["enabled", 5, [], {}, { type: "enabled", budget_tokens: "x" }],
  metadata: ["x", 5, [], { user_id: 5 }],
  anthropic_beta: ["x", 5, {}, [5], ["NOT A FLAG"]],
};
const WRONG_NATIVE: Record<string, readonly unknown[]> = {
  model: [5, null, [], {}, ""],
  stream: ["true", 5, {}, []],
};
/** The other top-level fields Bedrock and the Anthropic API take (objects, arrays, strings). */
const WRONG_OTHER_TOP: Record<string, readonly unknown[]> = {
  output_config: [5, "x"],
  output_format: [5, "x"],
  context_management: [5, "x"],
  container: [5, true],
  mcp_servers: [5, "x"],
  service_tier: [5, {}],
  inference_geo: [5, {}],
};
const WRONG_ADMIN: Record<string, readonly unknown[]> = {
  seed: ["x", 1.5, true, [], {}],
  rules: ["x", 5, {}, [5], [{}], [{ error: "NoSuchException" }], [{ error: "ThrottlingException", rate: 2 }]],
  extra: [1],
};
const WRONG_COUNT_OUTER: readonly [string, unknown][] = [
  ["input", null],
  ["input", 5],
  ["input", "x"],
  ["input", []],
  ["input", {}],
  ["input.invokeModel", null],
  ["input.invokeModel", 5],
  ["input.invokeModel", "x"],
  ["input.invokeModel", []],
  ["input.invokeModel", {}],
  ["input.invokeModel.body", null],
  ["input.invokeModel.body", 5],
  ["input.invokeModel.body", {}],
  ["input.invokeModel.body", "bm90IGpzb24="],
];

function setPath(body: Json, path: string, value: unknown): Json {
  const copy = structuredClone(body);
  const keys = path.split(".");
  let node: Record<string, unknown> = copy;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  node[keys[keys.length - 1]!] = value;
  return copy;
}

const STS_WRONG = [
  "Action=",
  "Action=GetCallerIdentity2",
  "Action[]=x",
  "Version=2011-06-15",
  "Action=AssumeRole",
];

/** A JSON-ish body with `field` set to `value`, for the target (STS takes forms). */
function mutated(target: BodyTarget, field: string, value: unknown): string {
  if (target.name === "sts") return `${String(value)}`;
  if (target.name === "count-tokens" && !field.startsWith("input")) {
    const inner = setPath(invokeBody(), field, value);
    return JSON.stringify({
      input: { invokeModel: { body: Buffer.from(JSON.stringify(inner)).toString("base64") } },
    });
  }
  return JSON.stringify(setPath(target.valid(), field, value));
}

function encodeForm(body: Json): string {
  return new URLSearchParams(body as Record<string, string>).toString();
}

// ---------------------------------------------------------------------------------------------
// Generators

function randomBodyCases(rng: Rng, count: number): Case[] {
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const target = rng.pick(TARGETS);
    const valid = target.name === "sts" ? encodeForm(target.valid()) : JSON.stringify(target.valid());
    const kind = rng.pick(["bytes", "truncated", "wrong-type", "scalar", "deep"] as const);
    let body: Uint8Array | string;
    let what: string;
    switch (kind) {
      case "bytes": {
        body = rng.bytes(rng.int(2048));
        what = `${body.length} random bytes`;
        break;
      }
      case "truncated": {
        const at = rng.int(valid.length);
        body = valid.slice(0, at);
        what = `truncated at ${at}: ${JSON.stringify(body.slice(-40))}`;
        break;
      }
      case "wrong-type": {
        const table =
          target.name === "admin faults"
            ? WRONG_ADMIN
            : target.name === "sts"
              ? { form: STS_WRONG }
              : target.name === "native" || target.name === "mantle" || target.name === "anthropic"
                ? { ...WRONG_CORE, ...WRONG_NATIVE }
                : WRONG_CORE;
        const field = rng.pick(Object.keys(table));
        const value = rng.pick(table[field]!);
        body = mutated(target, field, value);
        what = `${field} = ${JSON.stringify(value)}`;
        break;
      }
      case "scalar": {
        const scalars = ["null", "true", "0", "-1e999", '"text"', "[]", "[{}]", "[null]", '""', "{"];
        body = rng.pick(target.arraysValid ? scalars.filter((s) => s !== "[]") : scalars);
        what = `JSON ${body}`;
        break;
      }
      case "deep": {
        const depth = 2000 + rng.int(20_000);
        const nested = "[".repeat(depth) + "]".repeat(depth);
        const where = rng.pick(["top", "tool schema", "content block", "metadata"] as const);
        if (where === "top" || target.name === "sts" || target.name === "admin faults") body = nested;
        else {
          const placeholder = '"__DEEP__"';
          const shaped =
            where === "tool schema"
              ? { tools: [{ name: "t", input_schema: { type: "object", properties: { p: "__DEEP__" } } }] }
              : where === "content block"
                ? { messages: [{ role: "user", content: [{ type: "text", text: "x", extra: "__DEEP__" }] }] }
                : { metadata: { user_id: "u", extra: "__DEEP__" } };
          const base =
            target.name === "count-tokens"
              ? JSON.stringify({ ...invokeBody(), ...shaped })
              : JSON.stringify({ ...target.valid(), ...shaped });
          const inner = base.replace(placeholder, nested);
          body =
            target.name === "count-tokens"
              ? JSON.stringify({ input: { invokeModel: { body: Buffer.from(inner).toString("base64") } } })
              : inner;
        }
        what = `nesting ${depth} deep in ${where}`;
        break;
      }
    }
    cases.push({
      label: `body#${i} ${target.name} ${kind} (${what})`,
      method: "POST",
      send: () => target.send(body),
    });
  }
  return cases;
}

/** Every field with each of its wrong values, on each endpoint that takes it. */
function everyFieldCases(): Case[] {
  const cases: Case[] = [];
  const add = (target: BodyTarget, field: string, values: readonly unknown[]) => {
    for (const value of values) {
      const body = mutated(target, field, value);
      cases.push({
        label: `field ${target.name} ${field} = ${JSON.stringify(value)}`,
        method: "POST",
        send: () => target.send(body),
      });
    }
  };
  const byName = (name: string) => TARGETS.find((t) => t.name === name)!;
  for (const name of ["invoke", "count-tokens"]) {
    for (const [field, values] of Object.entries({ ...WRONG_CORE, ...WRONG_OTHER_TOP }))
      add(byName(name), field, values);
  }
  for (const name of ["native", "mantle", "anthropic"]) {
    for (const [field, values] of Object.entries({ ...WRONG_CORE, ...WRONG_NATIVE, ...WRONG_OTHER_TOP })) {
      add(byName(name), field, values);
    }
  }
  for (const [field, value] of WRONG_COUNT_OUTER) add(byName("count-tokens"), field, [value]);
  for (const [field, values] of Object.entries(WRONG_ADMIN)) add(byName("admin faults"), field, values);
  // Nested fields of an InvokeModel body.
  const invoke = byName("invoke");
  const toolTurns = (assistant: Json, result: Json): Json =>
    invokeBody({
      tools: [{ name: "lookup", input_schema: { type: "object" } }],
      messages: [
        { role: "user", content: "Look it up." },
        { role: "assistant", content: [assistant] },
        { role: "user", content: [result] },
      ],
    });
  const nested: [string, Json][] = [
    [
      "messages.0.content.0.type = 5",
      invokeBody({ messages: [{ role: "user", content: [{ type: 5, text: "x" }] }] }),
    ],
    [
      "messages.0.content.0.text = 5",
      invokeBody({ messages: [{ role: "user", content: [{ type: "text", text: 5 }] }] }),
    ],
    [
      "messages.0.content.0.cache_control = 5",
      invokeBody({ messages: [{ role: "user", content: [{ type: "text", text: "x", cache_control: 5 }] }] }),
    ],
    [
      "messages.0.content.0.source = 5 (image)",
      invokeBody({ messages: [{ role: "user", content: [{ type: "image", source: 5 }] }] }),
    ],
    [
      "messages.0.content.0.source.data = 5 (image)",
      invokeBody({
        messages: [
          {
            role: "user",
            content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: 5 } }],
          },
        ],
      }),
    ],
    [
      "tool_use.input = 5",
      toolTurns(
        { type: "tool_use", id: "toolu_1", name: "lookup", input: 5 },
        { type: "tool_result", tool_use_id: "toolu_1", content: "ok" },
      ),
    ],
    [
      "tool_use.id = 5",
      toolTurns(
        { type: "tool_use", id: 5, name: "lookup", input: {} },
        { type: "tool_result", tool_use_id: "toolu_1", content: "ok" },
      ),
    ],
    [
      "tool_result.content = 5",
      toolTurns(
        { type: "tool_use", id: "toolu_1", name: "lookup", input: {} },
        { type: "tool_result", tool_use_id: "toolu_1", content: 5 },
      ),
    ],
    ["system.0.text = 5", invokeBody({ system: [{ type: "text", text: 5 }] })],
    [
      'system.0.cache_control = "x"',
      invokeBody({ system: [{ type: "text", text: "x", cache_control: "x" }] }),
    ],
    ["tools.0.name = 5", invokeBody({ tools: [{ name: 5, input_schema: { type: "object" } }] })],
    ['tools.0.input_schema = "x"', invokeBody({ tools: [{ name: "t", input_schema: "x" }] })],
    [
      "tools.0.description = 5",
      invokeBody({ tools: [{ name: "t", description: 5, input_schema: { type: "object" } }] }),
    ],
    [
      "tool_choice.name = 5",
      invokeBody({ tools: [{ name: "t", input_schema: {} }], tool_choice: { type: "tool", name: 5 } }),
    ],
    [
      'thinking.budget_tokens = "x"',
      invokeBody({ max_tokens: 4096, thinking: { type: "enabled", budget_tokens: "x" } }),
    ],
    ["metadata.user_id = 5", invokeBody({ metadata: { user_id: 5 } })],
    ["stop_sequences.0 = 5", invokeBody({ stop_sequences: [5] })],
  ];
  for (const [what, body] of nested) {
    const text = JSON.stringify(body);
    cases.push({ label: `field invoke ${what}`, method: "POST", send: () => invoke.send(text) });
  }
  return cases;
}

interface Endpoint {
  path: string;
  /** Methods that have a route here (and so are valid with valid input). */
  methods: readonly string[];
  /** A request on the route that headers or auth alone make invalid. */
  body?: string;
}

const ENDPOINTS: Endpoint[] = [
  { path: "/model/x/invoke", methods: ["POST"], body: JSON.stringify(invokeBody()) },
  { path: `/model/${SONNET_46_PROFILE}/invoke`, methods: ["POST"], body: JSON.stringify(invokeBody()) },
  {
    path: `/model/${SONNET_46_PROFILE}/invoke-with-response-stream`,
    methods: ["POST"],
    body: JSON.stringify(invokeBody()),
  },
  {
    path: `/model/${SONNET_46_FOUNDATION}/count-tokens`,
    methods: ["POST"],
    body: JSON.stringify({
      input: { invokeModel: { body: Buffer.from(JSON.stringify(invokeBody())).toString("base64") } },
    }),
  },
  {
    path: "/anthropic/v1/messages",
    methods: ["POST"],
    body: JSON.stringify(messagesBody(SONNET_46_PROFILE)),
  },
  { path: "/v1/messages", methods: ["POST"], body: JSON.stringify(messagesBody("claude-sonnet-4-6")) },
  { path: "/foundation-models", methods: ["GET", "HEAD"] },
  { path: "/", methods: ["GET", "HEAD", "POST"] },
  { path: "/_emulator/faults", methods: ["GET", "HEAD", "POST", "DELETE"] },
];

const METHODS = [
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
  "PROPFIND",
  "PROPPATCH",
  "MKCOL",
  "COPY",
  "MOVE",
  "LOCK",
  "UNLOCK",
  "SEARCH",
  "PURGE",
  "REPORT",
  "MERGE",
  "M-SEARCH",
  "NOTIFY",
  "SUBSCRIBE",
  "UNSUBSCRIBE",
  "LINK",
  "UNLINK",
  "ACL",
  "BIND",
] as const;

function randomMethodCases(rng: Rng, count: number): Case[] {
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const endpoint = rng.pick(ENDPOINTS);
    const method = rng.pick(METHODS.filter((m) => !endpoint.methods.includes(m)));
    const body = method === "GET" || method === "HEAD" ? undefined : Buffer.from(rng.bytes(rng.int(256)));
    cases.push({
      label: `method#${i} ${method} ${endpoint.path.slice(0, 60)}`,
      method,
      send: () => fetch(`${url()}${endpoint.path}`, { method, body }),
    });
  }
  return cases;
}

/** Garbage credentials of every shape. */
function garbageAuthorization(rng: Rng): string | undefined {
  const date = new Date()
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  const hex = () => Array.from({ length: 64 }, () => "0123456789abcdef"[rng.int(16)]).join("");
  return rng.pick([
    () => undefined,
    () => "",
    () => rng.headerValue(1 + rng.int(200)),
    () => `AWS4-HMAC-SHA256 ${rng.headerValue(rng.int(300))}`,
    () =>
      `AWS4-HMAC-SHA256 Credential=${rng.token(8)}/${date.slice(0, 8)}/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=${hex()}`,
    () =>
      `AWS4-HMAC-SHA256 Credential=test/${date.slice(0, 8)}/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=${hex()}`,
    () =>
      `AWS4-HMAC-SHA256 Credential=test/${rng.token(4)}/${rng.token(9)}/bedrock/aws4_request, SignedHeaders=host, Signature=${hex()}`,
    () => `AWS4-HMAC-SHA256 Credential=a/b/c, SignedHeaders=, Signature=`,
    () => `AWS4-HMAC-SHA256 Credential===,,,=,SignedHeaders=;;;, Signature=${"z".repeat(64)}`,
    () => `Bearer ${rng.headerValue(1 + rng.int(100))}`,
    () => `Bearer ABSK${rng.token(20 + rng.int(40))}`,
    () => `Bearer bedrock-api-key-${Buffer.from(rng.bytes(rng.int(300))).toString("base64")}`,
    () =>
      `Bearer bedrock-api-key-${Buffer.from(`bedrock.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Credential=nobody%2F${date.slice(0, 8)}%2Fus-east-1%2Fbedrock%2Faws4_request&X-Amz-Date=${date}&X-Amz-Expires=43200`).toString("base64")}`,
    () => `Bearer ${"A".repeat(6000 + rng.int(4000))}`,
    () => `AWS4-HMAC-SHA256 Credential=${"c".repeat(8000)}, SignedHeaders=host, Signature=${hex()}`,
  ])();
}

/** Odd headers totalling at most `budget` bytes or so (Node refuses more than 16 KiB of headers). */
function oddHeaders(rng: Rng, budget: number): Record<string, string> {
  const headers: Record<string, string> = {};
  const count = rng.pick([0, 1, 3, 20, 120]);
  for (let i = 0; i < count && budget > 0; i++) {
    const length = Math.min(budget, rng.pick([1, 10, 100, 1000, 4000]));
    budget -= length + 40;
    headers[`x-fuzz-${rng.token(1 + rng.int(20))}-${i}`] = rng.headerValue(length);
  }
  if (rng.next() < 0.3) headers["content-type"] = rng.headerValue(1 + rng.int(80));
  if (rng.next() < 0.2) headers["x-amz-date"] = rng.headerValue(1 + rng.int(30));
  if (rng.next() < 0.2) headers["x-amz-security-token"] = rng.headerValue(1 + rng.int(500));
  if (rng.next() < 0.2) headers["x-amz-content-sha256"] = rng.headerValue(1 + rng.int(64));
  if (rng.next() < 0.2) headers["anthropic-version"] = rng.headerValue(1 + rng.int(20));
  if (rng.next() < 0.2) headers["anthropic-beta"] = rng.headerValue(1 + rng.int(200));
  if (rng.next() < 0.1) headers["x-amzn-bedrock-accept"] = rng.headerValue(1 + rng.int(40));
  if (rng.next() < 0.1) headers["accept-encoding"] = rng.headerValue(1 + rng.int(40));
  return headers;
}

function headerCases(rng: Rng, count: number): Case[] {
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const endpoint = rng.pick(ENDPOINTS);
    const authorization = garbageAuthorization(rng);
    const headers = oddHeaders(rng, 11_000 - (authorization?.length ?? 0));
    if (authorization !== undefined) headers.authorization = authorization;
    let path = endpoint.path;
    let method = endpoint.methods[0]!;
    let body: string | undefined = endpoint.body;
    if (endpoint.path === "/") {
      // GetCallerIdentity with garbage credentials.
      method = rng.pick(["GET", "POST"]);
      if (method === "GET") path = "/?Action=GetCallerIdentity&Version=2011-06-15";
      else body = "Action=GetCallerIdentity&Version=2011-06-15";
    } else if (endpoint.path === "/_emulator/faults") {
      // The admin API takes no credentials: only its body can make it fail.
      method = "POST";
      body = JSON.stringify({ rules: [{ error: rng.token(12) }] });
    } else if (endpoint.path === "/v1/messages") {
      // The Anthropic API reads x-api-key; it and the Authorization fallback are garbage here.
      if (rng.next() < 0.5) headers["x-api-key"] = rng.headerValue(1 + rng.int(60));
      else if (authorization === undefined) headers.authorization = `Bearer ${rng.token(30)}`;
    } else if (endpoint.path === "/foundation-models") {
      method = rng.pick(["GET", "HEAD"]);
    }
    const sentHeaders = { ...headers };
    cases.push({
      label: `header#${i} ${method} ${path.slice(0, 50)} auth=${JSON.stringify((authorization ?? "(none)").slice(0, 60))} ${Object.keys(headers).length} headers`,
      method,
      send: () =>
        fetch(`${url()}${path}`, {
          method,
          headers: sentHeaders,
          body: method === "GET" || method === "HEAD" ? undefined : body,
        }),
    });
  }
  // Correctly signed requests whose signed headers lie (payload hash, token, date).
  for (let i = 0; i < 20; i++) {
    const endpoint = rng.pick(
      ENDPOINTS.filter((e) => e.path.startsWith("/model/") || e.path === "/anthropic/v1/messages"),
    );
    const lie = rng.pick([
      ["x-amz-content-sha256", "0".repeat(64)],
      ["x-amz-content-sha256", rng.headerValue(20)],
      ["x-amz-security-token", rng.headerValue(40)],
    ] as const);
    const extra = oddHeaders(rng, 8000);
    delete extra.authorization;
    delete extra["x-amz-date"];
    delete extra["x-amz-security-token"];
    delete extra["x-amz-content-sha256"];
    cases.push({
      label: `signed-lie#${i} ${endpoint.path.slice(0, 50)} ${lie[0]}=${JSON.stringify(lie[1].slice(0, 30))}`,
      method: "POST",
      send: () =>
        signedFetch(url(), {
          path: endpoint.path,
          body: endpoint.body!,
          headers: { ...extra, [lie[0]]: lie[1] },
        }),
    });
  }
  return cases;
}

function pathCases(rng: Rng, count: number): Case[] {
  const body = JSON.stringify(invokeBody());
  const fixed = [
    "/model/%ZZ/invoke",
    "/model//invoke",
    `/model/${"a".repeat(5000)}/invoke`,
    `/model/${encodeURIComponent("模型🙂")}/invoke`,
    "/model/模型/invoke",
    "/model/%E6%A8%A1%E5%9E%8B/invoke-with-response-stream",
    "/model/%F0%9F%99%82/count-tokens",
    "/model/%/invoke",
    "/model/%2/invoke",
    "/model/%00/invoke",
    "/model/%C0%AF/invoke",
    "/model/%FF%FE/invoke",
    "/model/..%2F..%2Fetc%2Fpasswd/invoke",
    "/model/x%2Fy/invoke",
    "/model/x/y/invoke",
    `/model/${SONNET_46_PROFILE}/invoke/extra`,
    `/model/${SONNET_46_PROFILE}/INVOKE`,
    `/model/${SONNET_46_PROFILE}/converse`,
    `/model/${SONNET_46_PROFILE}/`,
    `/model/${SONNET_46_PROFILE}`,
    `//model/${SONNET_46_PROFILE}/invoke`,
    "/model",
    "/models/x/invoke",
    "/model/arn:aws:bedrock:us-east-1:000000000000:inference-profile%2Fnope/invoke",
    "/model/arn:aws:bedrock:eu-west-9:000000000000:inference-profile%2Fus.anthropic.claude-sonnet-4-6/invoke",
    `/model/${encodeURIComponent(`arn:aws:bedrock:us-east-1::foundation-model/${SONNET_46_FOUNDATION}`)}/invoke`,
    "/model/us.anthropic.claude-nope/invoke?x=%ZZ&&=&y",
    "/anthropic/v1/messages/extra",
    "/anthropic/v2/messages",
    "/v1/messages/",
    "/v1/messages/count_tokens/x",
    "/foundation-models/%ZZ",
    `/foundation-models/${"b".repeat(5000)}`,
    "/inference-profiles/%ZZ",
    "/_emulator/%ZZ",
    "/_emulator/faults/x",
    "/%ZZ",
    "/%00",
    `/${"c".repeat(5000)}`,
  ];
  const cases: Case[] = [];
  const send = (path: string, method: string, signed: boolean) => () =>
    signed
      ? signedFetch(url(), { path, method, body: method === "GET" ? undefined : body })
      : fetch(`${url()}${path}`, { method, body: method === "GET" ? undefined : body });
  for (const [i, path] of fixed.entries()) {
    for (const signed of [true, false]) {
      const method =
        path.startsWith("/foundation-models") || path.startsWith("/inference-profiles") ? "GET" : "POST";
      cases.push({
        label: `path#${i} ${method} ${path.slice(0, 80)} signed=${signed}`,
        method,
        send: send(path, method, signed),
      });
    }
  }
  const segment = () =>
    rng.pick([
      () => rng.token(1 + rng.int(40)),
      () => encodeURIComponent(rng.headerValue(1 + rng.int(40))),
      () => `%${rng.token(2)}`,
      () => "%".repeat(1 + rng.int(5)),
      () => encodeURIComponent(String.fromCodePoint(0x80 + rng.int(0x10000))),
      () => "a".repeat(1000 + rng.int(4000)),
      () => `us.anthropic.claude-${rng.token(10)}-v1:0`,
      () => "..",
      () => ".",
      () => "",
    ])();
  const op = () =>
    rng.pick(["invoke", "invoke-with-response-stream", "count-tokens", "Invoke", "invoke/", "x", ""]);
  for (let i = 0; i < count; i++) {
    const path = rng.next() < 0.7 ? `/model/${segment()}/${op()}` : `/${segment()}/${segment()}`;
    const signed = rng.next() < 0.5;
    cases.push({
      label: `path-random#${i} POST ${path.slice(0, 80)} (${path.length} chars) signed=${signed}`,
      method: "POST",
      send: send(path, "POST", signed),
    });
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------

describe(`seeded fuzz (seed ${SEED})`, () => {
  it("random bytes, truncated JSON, wrong types, scalars and deep nesting on every body endpoint", {
    timeout: 120_000,
  }, async () => {
    const cases = randomBodyCases(new Rng(SEED), 220);
    const { failures, kinds } = await run(cases);
    expect([...kinds.keys()]).toEqual(
      expect.arrayContaining([
        "400 ValidationException",
        "400 invalid_request_error",
        "400 invalid_request",
        "400 xml:InvalidAction",
      ]),
    );
    expect(failures).toEqual([]);
  });

  it("a wrong type in every field, on every endpoint that takes the field", {
    timeout: 120_000,
  }, async () => {
    const cases = everyFieldCases();
    expect(cases.length).toBeGreaterThan(300);
    const { failures, kinds } = await run(cases);
    expect([...kinds.keys()]).toEqual(
      expect.arrayContaining(["400 ValidationException", "400 invalid_request_error", "400 invalid_request"]),
    );
    expect(failures).toEqual([]);
  });

  it("garbage credentials and huge or odd headers on every endpoint", { timeout: 120_000 }, async () => {
    const cases = headerCases(new Rng(SEED + 1), 140);
    const { failures, kinds } = await run(cases);
    expect([...kinds.keys()]).toEqual(
      expect.arrayContaining([
        "400 IncompleteSignatureException",
        "401 authentication_error",
        "403 AccessDeniedException",
        "403 InvalidSignatureException",
        "403 UnrecognizedClientException",
        "403 xml:MissingAuthenticationToken",
      ]),
    );
    expect(failures).toEqual([]);
  });

  it("odd and over-long paths, signed and unsigned", { timeout: 120_000 }, async () => {
    const cases = pathCases(new Rng(SEED + 2), 80);
    const { failures, kinds } = await run(cases);
    expect([...kinds.keys()]).toEqual(
      expect.arrayContaining([
        "400 ValidationException",
        "403 AccessDeniedException",
        "404 UnknownOperationException",
      ]),
    );
    expect(failures).toEqual([]);
  });

  it("methods without a route on every endpoint", { timeout: 120_000 }, async () => {
    const cases = randomMethodCases(new Rng(SEED + 3), 80);
    const { failures, kinds } = await run(cases);
    expect([...kinds.keys()]).toEqual(expect.arrayContaining(["404 UnknownOperationException"]));
    expect(failures).toEqual([]);
  });

  it("requests Node's HTTP parser refuses (header or target over 16 KiB, unknown method) still get an error body", async () => {
    const target = `${url()}/model/${SONNET_46_PROFILE}/invoke`;
    const cases: Case[] = [
      {
        label: "one 20 KiB header",
        method: "POST",
        send: () => fetch(target, { method: "POST", headers: { "x-huge": "a".repeat(20_000) }, body: "{}" }),
      },
      {
        label: "a 20 KiB path",
        method: "POST",
        send: () => fetch(`${url()}/model/${"a".repeat(20_000)}/invoke`, { method: "POST", body: "{}" }),
      },
      { label: "method FOO", method: "FOO", send: () => fetch(target, { method: "FOO", body: "{}" }) },
      {
        label: "method patch (lower case)",
        method: "patch",
        send: () => fetch(target, { method: "patch", body: "{}" }),
      },
    ];
    const { failures } = await run(cases);
    expect(failures).toEqual([]);
  });

  it("afterwards: no fault was set, and the emulator still answers a valid InvokeModel through the AWS SDK", async () => {
    expect(emulator.current.state.faults.current().rules).toEqual([]);
    const client = new BedrockRuntimeClient(awsClientConfig(emulator.current.url));
    try {
      const out = await client.send(
        new InvokeModelCommand({ modelId: SONNET_46_PROFILE, body: JSON.stringify(invokeBody()) }),
      );
      expect(out.$metadata.httpStatusCode).toBe(200);
      const message = JSON.parse(new TextDecoder().decode(out.body)) as { type: string; model: string };
      expect(message).toMatchObject({ type: "message", model: "claude-sonnet-4-6" });
    } finally {
      client.destroy();
    }
    const health = await fetch(`${url()}/_emulator/health`);
    expect(health.status).toBe(200);
  });
});
