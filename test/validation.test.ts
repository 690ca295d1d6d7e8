/**
 * InvokeModel request validation as Bedrock words it: 400 ValidationException, `{"message": ...}`,
 * over real HTTP (signedFetch for raw bodies, the official AWS SDK for the typed exceptions).
 * Wording: /tmp/research/aws-errors.md sections 9-11 and 14, bedrock-wire.md sections 2 and 6.
 */
import {
  BedrockRuntimeClient,
  CountTokensCommand,
  InvokeModelCommand,
  ValidationException,
} from "@aws-sdk/client-bedrock-runtime";
import { afterAll, describe, expect, it } from "vitest";
import {
  awsAnswer,
  awsClientConfig,
  HAIKU_45_FOUNDATION,
  HAIKU_45_PROFILE,
  invokeBody,
  SONNET_46_FOUNDATION,
  SONNET_46_PROFILE,
  signedFetch,
  useEmulator,
} from "./helpers.js";

const emulator = useEmulator();

const client = (() => {
  let instance: BedrockRuntimeClient | undefined;
  return () => {
    instance ??= new BedrockRuntimeClient(awsClientConfig(emulator.current.url));
    return instance;
  };
})();
afterAll(() => client().destroy());

const SCHEMA_TAIL = ", please reformat your input and try again.";

function invoke(body: unknown, modelId = SONNET_46_PROFILE, operation = "invoke"): Promise<Response> {
  return signedFetch(emulator.current.url, {
    path: `/model/${modelId}/${operation}`,
    body: typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
}

function without(key: string): Record<string, unknown> {
  const body = invokeBody();
  delete body[key];
  return body;
}

const refusal = awsAnswer;

/** Asserts a 400 ValidationException whose body is exactly `{"message": message}`. */
async function expectValidation(res: Response, message: string): Promise<void> {
  expect(await refusal(res)).toEqual({ status: 400, errorType: "ValidationException", body: { message } });
}

/** As expectValidation, for a message checked by a predicate; returns the message. */
async function validationMessage(res: Response): Promise<string> {
  const got = await refusal(res);
  expect({ status: got.status, errorType: got.errorType }).toEqual({
    status: 400,
    errorType: "ValidationException",
  });
  expect(Object.keys(got.body as object)).toEqual(["message"]);
  return (got.body as { message: string }).message;
}

async function expectOk(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  expect({ status: res.status, body: text.slice(0, 300) }).toMatchObject({ status: 200 });
  return JSON.parse(text) as Record<string, unknown>;
}

async function sdkError(
  promise: Promise<unknown>,
): Promise<Error & { $metadata: { httpStatusCode?: number } }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationException);
  return error as ValidationException;
}

describe("Bedrock's schema layer: Malformed input request", () => {
  it.each(["anthropic_version", "max_tokens", "messages"])("missing %s", async (key) => {
    await expectValidation(
      await invoke(without(key)),
      `Malformed input request: #: required key [${key}] not found${SCHEMA_TAIL}`,
    );
  });

  it("missing all three required keys lists each", async () => {
    const message = await validationMessage(await invoke({ system: "You are terse." }));
    expect(message.startsWith("Malformed input request: ")).toBe(true);
    expect(message.endsWith(SCHEMA_TAIL)).toBe(true);
    for (const key of ["anthropic_version", "max_tokens", "messages"]) {
      expect(message).toContain(`#: required key [${key}] not found`);
    }
  });

  it("`model` and `stream` left in the body: extraneous keys", async () => {
    const message = await validationMessage(
      await invoke(invokeBody({ model: SONNET_46_PROFILE, stream: true })),
    );
    expect(message.startsWith("Malformed input request: ")).toBe(true);
    expect(message).toContain("#: extraneous key [model] is not permitted");
    expect(message).toContain("#: extraneous key [stream] is not permitted");
    expect(message.endsWith(SCHEMA_TAIL)).toBe(true);
  });

  it("`stream` alone is refused too", async () => {
    await expectValidation(
      await invoke(invokeBody({ stream: false })),
      `Malformed input request: #: extraneous key [stream] is not permitted${SCHEMA_TAIL}`,
    );
  });

  it("max_tokens as a string: a type violation, not a missing key", async () => {
    await expectValidation(
      await invoke(invokeBody({ max_tokens: "64" })),
      `Malformed input request: #/max_tokens: expected type: Integer, found: String${SCHEMA_TAIL}`,
    );
  });

  it("a body that is not JSON", async () => {
    const message = await validationMessage(
      await invoke("anthropic_version=bedrock-2023-05-31&max_tokens=64"),
    );
    expect(message.startsWith("Malformed input request: ")).toBe(true);
    expect(message.endsWith(SCHEMA_TAIL)).toBe(true);
  });

  it("a JSON array body", async () => {
    await expectValidation(
      await invoke(JSON.stringify([invokeBody()])),
      `Malformed input request: #: expected type: JSONObject, found: JSONArray${SCHEMA_TAIL}`,
    );
  });

  it("an empty body", async () => {
    const message = await validationMessage(await invoke(""));
    expect(message.startsWith("Malformed input request: ")).toBe(true);
  });
});

describe("anthropic_version", () => {
  it("bedrock-2023-06-01 (the wrong value from an old note): Invalid API version", async () => {
    await expectValidation(
      await invoke(invokeBody({ anthropic_version: "bedrock-2023-06-01" })),
      "Invalid API version: bedrock-2023-06-01",
    );
  });

  it("the documented bedrock-2023-05-31 is accepted", async () => {
    expect((await expectOk(await invoke(invokeBody()))).type).toBe("message");
  });

  it("the dated version the current Anthropic SDK copies into the body (2026-10-21) is accepted", async () => {
    expect((await expectOk(await invoke(invokeBody({ anthropic_version: "2026-10-21" })))).type).toBe(
      "message",
    );
  });
});

describe("the model layer (Anthropic's wording)", () => {
  it("empty messages", async () => {
    const message = await validationMessage(await invoke(invokeBody({ messages: [] })));
    // Anthropic: "messages: at least one message is required"; Bedrock's schema layer would say
    // "#/messages: expected minimum item count: 1".
    expect([
      "messages: at least one message is required",
      `Malformed input request: #/messages: expected minimum item count: 1, found: 0${SCHEMA_TAIL}`,
    ]).toContain(message);
  });

  it("first message from the assistant", async () => {
    await expectValidation(
      await invoke(
        invokeBody({
          messages: [
            { role: "assistant", content: "Hi" },
            { role: "user", content: "Hello" },
          ],
        }),
      ),
      'messages: first message must use the "user" role',
    );
  });

  it("an unknown top-level field: cache_control: Extra inputs are not permitted", async () => {
    await expectValidation(
      await invoke(invokeBody({ cache_control: { type: "ephemeral" } })),
      "cache_control: Extra inputs are not permitted",
    );
  });

  it("max_tokens above the model's maximum (64000 for Sonnet 4.6)", async () => {
    await expectValidation(
      await invoke(invokeBody({ max_tokens: 64_001 })),
      "max_tokens: 64001 > 64000, which is the maximum allowed number of output tokens for claude-sonnet-4-6",
    );
    expect((await expectOk(await invoke(invokeBody({ max_tokens: 64_000 })))).type).toBe("message");
  });

  it("temperature together with top_p on Sonnet 4.6", async () => {
    await expectValidation(
      await invoke(invokeBody({ temperature: 0.5, top_p: 0.9 })),
      "`temperature` and `top_p` cannot both be specified for this model. Please use only one.",
    );
    expect((await expectOk(await invoke(invokeBody({ temperature: 0.5 })))).type).toBe("message");
  });

  it("thinking budget not below max_tokens", async () => {
    const message = await validationMessage(
      await invoke(invokeBody({ max_tokens: 2048, thinking: { type: "enabled", budget_tokens: 2048 } })),
    );
    expect(message.startsWith("`max_tokens` must be greater than `thinking.budget_tokens`.")).toBe(true);
    const ok = await invoke(
      invokeBody({ max_tokens: 4096, thinking: { type: "enabled", budget_tokens: 2048 } }),
    );
    expect((await expectOk(ok)).type).toBe("message");
  });
});

describe("beta flags", () => {
  it.each([
    ["malformed", "Interleaved_Thinking"],
    ["malformed (no date)", "interleaved-thinking"],
    ["denied", "files-api-2025-04-14"],
    ["denied", "oauth-2025-04-20"],
  ])("a %s flag: invalid beta flag, the flag named only in x-emulator-hint", async (_kind, flag) => {
    const res = await invoke(invokeBody({ anthropic_beta: ["interleaved-thinking-2025-05-14", flag] }));
    const hint = res.headers.get("x-emulator-hint") ?? "";
    await expectValidation(res, "invalid beta flag");
    expect(hint).toContain(flag);
  });

  it("a well-formed unknown flag and claude-code-20250219 are accepted", async () => {
    const res = await invoke(
      invokeBody({ anthropic_beta: ["some-future-feature-2027-03-01", "claude-code-20250219"] }),
    );
    expect((await expectOk(res)).type).toBe("message");
  });
});

describe("size limit", () => {
  it("a body over 25,000,000 bytes", async () => {
    const filler = "a".repeat(25_000_001 - JSON.stringify(invokeBody({ system: "" })).length);
    const body = JSON.stringify(invokeBody({ system: filler }));
    expect(body.length).toBeGreaterThan(25_000_000);
    await expectValidation(
      await invoke(body),
      "1 validation error detected: Value at 'body' failed to satisfy constraint: Member must have length less than or equal to 25000000",
    );
  });
});

describe("model ids in the path", () => {
  it("an unknown model id", async () => {
    await expectValidation(
      await invoke(invokeBody(), "anthropic.claude-nonexistent-9-9"),
      "The provided model identifier is invalid.",
    );
  });

  it("a foundation id that needs an inference profile: the on-demand message, with U+2019", async () => {
    const message = await validationMessage(await invoke(invokeBody(), SONNET_46_FOUNDATION));
    expect(message).toBe(
      `Invocation of model ID ${SONNET_46_FOUNDATION} with on-demand throughput isn\u2019t supported. Retry your request with the ID or ARN of an inference profile that contains this model.`,
    );
    expect(message).not.toContain("isn't");
  });

  it("a dated id with `:` encoded as %3A (botocore) succeeds", async () => {
    const body = await expectOk(await invoke(invokeBody(), HAIKU_45_PROFILE.replace(":", "%3A")));
    expect(body.model).toBe("claude-haiku-4-5-20251001");
  });

  it("a dated id with a raw `:` (Anthropic SDKs) succeeds", async () => {
    const body = await expectOk(await invoke(invokeBody(), HAIKU_45_PROFILE));
    expect(body.model).toBe("claude-haiku-4-5-20251001");
  });

  it("an inference-profile ARN with `/` as %2F succeeds", async () => {
    const arn = `arn:aws:bedrock:us-east-1:${emulator.current.credentials.account}:inference-profile/${HAIKU_45_PROFILE}`;
    const body = await expectOk(await invoke(invokeBody(), encodeURIComponent(arn)));
    expect(body.model).toBe("claude-haiku-4-5-20251001");
  });
});

describe("CountTokens", () => {
  const countBody = (inner: unknown) =>
    JSON.stringify({
      input: { invokeModel: { body: Buffer.from(JSON.stringify(inner)).toString("base64") } },
    });

  it("refuses an inference profile id", async () => {
    await expectValidation(
      await invoke(countBody(invokeBody()), SONNET_46_PROFILE, "count-tokens"),
      "The provided model doesn't support counting tokens.",
    );
  });

  it("counts with the foundation id (control)", async () => {
    const body = await expectOk(await invoke(countBody(invokeBody()), SONNET_46_FOUNDATION, "count-tokens"));
    expect(body.inputTokens).toEqual(expect.any(Number));
    expect(body.inputTokens as number).toBeGreaterThan(0);
  });

  it("validates the inner body like InvokeModel", async () => {
    await expectValidation(
      await invoke(countBody(without("max_tokens")), SONNET_46_FOUNDATION, "count-tokens"),
      `Malformed input request: #: required key [max_tokens] not found${SCHEMA_TAIL}`,
    );
  });
});

describe("typed exceptions through the official AWS SDK", () => {
  it("missing max_tokens: ValidationException with Bedrock's message", async () => {
    const error = await sdkError(
      client().send(
        new InvokeModelCommand({ modelId: SONNET_46_PROFILE, body: JSON.stringify(without("max_tokens")) }),
      ),
    );
    expect(error.$metadata.httpStatusCode).toBe(400);
    expect(error.message).toBe(
      `Malformed input request: #: required key [max_tokens] not found${SCHEMA_TAIL}`,
    );
  });

  it("unknown model id: ValidationException", async () => {
    const error = await sdkError(
      client().send(
        new InvokeModelCommand({
          modelId: "anthropic.claude-nonexistent-9-9",
          body: JSON.stringify(invokeBody()),
        }),
      ),
    );
    expect(error.message).toBe("The provided model identifier is invalid.");
  });

  it("foundation id without a profile: ValidationException with the on-demand message", async () => {
    const error = await sdkError(
      client().send(
        new InvokeModelCommand({ modelId: SONNET_46_FOUNDATION, body: JSON.stringify(invokeBody()) }),
      ),
    );
    expect(error.message).toContain("with on-demand throughput isn\u2019t supported");
  });

  it("invalid beta flag: ValidationException", async () => {
    const body = JSON.stringify(invokeBody({ anthropic_beta: ["prompt-caching-2024-07-31"] }));
    const error = await sdkError(client().send(new InvokeModelCommand({ modelId: SONNET_46_PROFILE, body })));
    expect(error.message).toBe("invalid beta flag");
  });

  it("CountTokens on a profile id: ValidationException", async () => {
    const body = new TextEncoder().encode(JSON.stringify(invokeBody()));
    const error = await sdkError(
      client().send(new CountTokensCommand({ modelId: SONNET_46_PROFILE, input: { invokeModel: { body } } })),
    );
    expect(error.message).toBe("The provided model doesn't support counting tokens.");
  });

  it("the SDK's own encoding of a dated id (`:` as %3A) succeeds", async () => {
    const out = await client().send(
      new InvokeModelCommand({ modelId: HAIKU_45_PROFILE, body: JSON.stringify(invokeBody()) }),
    );
    expect(out.$metadata.httpStatusCode).toBe(200);
    const message = JSON.parse(new TextDecoder().decode(out.body)) as { model: string };
    expect(message.model).toBe("claude-haiku-4-5-20251001");
  });

  it("CountTokens with the dated foundation id succeeds", async () => {
    const body = new TextEncoder().encode(JSON.stringify(invokeBody()));
    const out = await client().send(
      new CountTokensCommand({ modelId: HAIKU_45_FOUNDATION, input: { invokeModel: { body } } }),
    );
    expect(out.inputTokens).toBeGreaterThan(0);
  });
});

describe("a large real-world request", () => {
  /** What a coding agent sends: a long system prompt, many tools, betas and a long tool-using history. */
  function realWorldBody(): Record<string, unknown> {
    const paragraph =
      "You are an autonomous software engineering agent working in a large TypeScript monorepo. Follow the repository's conventions, keep changes minimal, run the tests before you finish, and explain what you changed and why. ";
    const tools = Array.from({ length: 24 }, (_, i) => ({
      name: `tool_${i}_${["read_file", "write_file", "run_command", "search_code", "list_directory", "apply_patch"][i % 6]}`,
      description: `${paragraph.repeat(3)}Tool number ${i}.`,
      input_schema: {
        type: "object",
        properties: {
          path: { type: "string", description: "Path relative to the repository root." },
          content: { type: "string", description: "New content of the file, complete." },
          timeout_ms: { type: "integer", minimum: 1, maximum: 600000 },
          flags: { type: "array", items: { type: "string", enum: ["recursive", "force", "dry-run"] } },
        },
        required: ["path"],
        additionalProperties: false,
      },
    }));
    const system = [
      { type: "text", text: paragraph.repeat(60) },
      {
        type: "text",
        text: "Project memory:\n- build with npm run build\n- test with npx vitest run",
        cache_control: { type: "ephemeral" },
      },
    ];
    const messages: Record<string, unknown>[] = [
      { role: "user", content: "Fix the failing test in src/parser.ts." },
    ];
    for (let turn = 0; messages.length < 29; turn++) {
      const id = `toolu_bdrk_01${String(turn).padStart(20, "0")}`;
      messages.push({
        role: "assistant",
        content: [
          { type: "text", text: `Step ${turn}: I will look at the code.` },
          {
            type: "tool_use",
            id,
            name: tools[turn % tools.length]!.name,
            input: { path: `src/file_${turn}.ts` },
          },
        ],
      });
      messages.push({
        role: "user",
        content: [
          {
            type: "tool_result",
            tool_use_id: id,
            content: `export const value${turn} = ${turn};\n`.repeat(20),
          },
        ],
      });
    }
    messages.push({
      role: "assistant",
      content: [{ type: "text", text: "The fix is in place; running the tests now." }],
    });
    messages.push({ role: "user", content: "Great, please summarise the change." });
    return invokeBody({
      max_tokens: 16_000,
      system,
      tools,
      tool_choice: { type: "auto" },
      thinking: { type: "enabled", budget_tokens: 4096 },
      metadata: { user_id: "user-1234" },
      anthropic_beta: [
        "claude-code-20250219",
        "interleaved-thinking-2025-05-14",
        "fine-grained-tool-streaming-2025-05-14",
        "context-management-2025-06-27",
        "context-1m-2025-08-07",
        "token-counting-2024-11-01",
        "tool-search-tool-2025-10-19",
        "computer-use-2025-01-24",
        "output-128k-2025-02-19",
        "web-search-2025-03-05",
      ],
      messages,
    });
  }

  it("40 KB of tools and system prompt, 10 beta flags, 30+ messages: answered", async () => {
    const body = realWorldBody();
    expect(JSON.stringify({ tools: body.tools, system: body.system }).length).toBeGreaterThanOrEqual(40_000);
    expect(body.anthropic_beta).toHaveLength(10);
    // Alternating turns that start and end with the user make an odd count: 31.
    expect((body.messages as unknown[]).length).toBeGreaterThanOrEqual(30);
    const res = await invoke(body);
    const message = await expectOk(res);
    expect(message.type).toBe("message");
    // The cache_control breakpoint on the system prompt moves most of the prompt into cache writes.
    const usage = message.usage as Record<string, number>;
    const prompt = usage.input_tokens! + usage.cache_creation_input_tokens! + usage.cache_read_input_tokens!;
    expect(prompt).toBeGreaterThan(5000);
    expect(Number(res.headers.get("x-amzn-bedrock-input-token-count"))).toBe(usage.input_tokens);
  });

  it("the same request streams", async () => {
    const res = await invoke(realWorldBody(), SONNET_46_PROFILE, "invoke-with-response-stream");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/vnd.amazon.eventstream");
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(0);
  });
});
