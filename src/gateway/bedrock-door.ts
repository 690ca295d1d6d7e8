/**
 * The Bedrock-compatible front door: InvokeModel, InvokeModelWithResponseStream and CountTokens
 * requests, as the AWS SDKs, boto3 and Claude Code in Bedrock mode send them, turned into the
 * transport's Anthropic Messages calls, and the transport's answers turned back into Bedrock's
 * wire shapes (the Anthropic message as the body, the AWS event stream, AWS error JSON with
 * `x-amzn-errortype`). The chain behind the gateway may be any provider: a client speaking
 * Bedrock can be failed over to the Anthropic API too.
 */
import { encodeChunkEvent, encodeExceptionEvent } from "../bedrock/event-stream.js";
import {
  BEDROCK_EXCEPTION_STATUS,
  type BedrockExceptionName,
  isBedrockExceptionName,
} from "../bedrock/exceptions.js";

/** Anthropic error types in Bedrock's words, for answers that did not come from Bedrock itself. */
const EXCEPTION_BY_TYPE: Record<string, BedrockExceptionName> = {
  invalid_request_error: "ValidationException",
  authentication_error: "UnrecognizedClientException",
  permission_error: "AccessDeniedException",
  not_found_error: "ResourceNotFoundException",
  request_too_large: "RequestEntityTooLargeException",
  rate_limit_error: "ThrottlingException",
  // A budget refusal: AWS has no billing error on this API; a quota is the nearest meaning.
  billing_error: "ServiceQuotaExceededException",
  api_error: "InternalServerException",
  timeout_error: "ModelTimeoutException",
  overloaded_error: "ServiceUnavailableException",
};

/**
 * The transport names Bedrock's exception in the message it adapts:
 * `Too many requests, please wait before trying again. (Bedrock ThrottlingException, request id …)`.
 */
const NAMED = / \(Bedrock (\w+)(?:, request id [^)]*)?\)$/;

export class DoorError extends Error {
  constructor(
    readonly exception: BedrockExceptionName,
    message: string,
  ) {
    super(message);
  }
}

/** An InvokeModel body as the transport's Messages call: the model from the path, the version dropped. */
export function invokeToMessagesBody(modelId: string, raw: string, stream: boolean): string {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    throw new DoorError(
      "ValidationException",
      "Malformed input request, please reformat your input and try again.",
    );
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new DoorError(
      "ValidationException",
      "Malformed input request, please reformat your input and try again.",
    );
  }
  const { anthropic_version: _version, ...rest } = body as Record<string, unknown>;
  return JSON.stringify({ ...rest, model: modelId, stream });
}

/** CountTokens' `{input: {invokeModel: {body: base64}}}` (or `converse`, which this door does not take). */
export function countTokensToMessagesBody(modelId: string, raw: string): string {
  let input: { input?: { invokeModel?: { body?: unknown } } };
  try {
    input = JSON.parse(raw) as typeof input;
  } catch {
    throw new DoorError(
      "ValidationException",
      "Malformed input request, please reformat your input and try again.",
    );
  }
  const encoded = input?.input?.invokeModel?.body;
  if (typeof encoded !== "string") {
    throw new DoorError(
      "ValidationException",
      "The gateway counts tokens of an InvokeModel body: send input.invokeModel.body (base64).",
    );
  }
  const inner = Buffer.from(encoded, "base64").toString("utf8");
  const body = JSON.parse(invokeToMessagesBody(modelId, inner, false)) as Record<string, unknown>;
  // count_tokens takes no max_tokens or sampling settings.
  for (const field of ["max_tokens", "stream", "temperature", "top_p", "top_k", "stop_sequences"])
    delete body[field];
  return JSON.stringify(body);
}

/** An AWS restJson1 error answer. */
export function awsError(exception: BedrockExceptionName, message: string, requestId: string): Response {
  return new Response(JSON.stringify({ message }), {
    status: BEDROCK_EXCEPTION_STATUS[exception],
    headers: {
      "content-type": "application/json",
      "x-amzn-errortype": `${exception}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
      "x-amzn-requestid": requestId,
    },
  });
}

/**
 * Bedrock's exception for a transport error, and its message as Bedrock said it: the suffix naming
 * the exception and the upstream request id goes (the door answers under its own request id).
 */
function exceptionFor(
  type: string | undefined,
  message: string,
  header: string | null,
): { exception: BedrockExceptionName; message: string } {
  const suffix = NAMED.exec(message);
  const named = header?.split(":")[0] ?? suffix?.[1];
  if (named && isBedrockExceptionName(named)) {
    const said = suffix && suffix[1] === named ? message.slice(0, suffix.index) : message;
    return { exception: named, message: said };
  }
  return { exception: EXCEPTION_BY_TYPE[type ?? ""] ?? "InternalServerException", message };
}

/** An Anthropic error body's type and message; text that is not one is the message as it is. */
function anthropicErrorOf(text: string): { type: string | undefined; message: string } {
  try {
    const json = JSON.parse(text) as { error?: { type?: string; message?: string } };
    return { type: json.error?.type, message: json.error?.message ?? text };
  } catch {
    return { type: undefined, message: text };
  }
}

/** The transport's Anthropic error answer as Bedrock's. */
export async function toAwsError(response: Response, requestId: string): Promise<Response> {
  const { type, message } = anthropicErrorOf(await response.text());
  const known = exceptionFor(type, message, response.headers.get("x-amzn-errortype"));
  const answer = awsError(known.exception, known.message, requestId);
  const retryAfter = response.headers.get("retry-after");
  if (retryAfter) answer.headers.set("retry-after", retryAfter);
  return answer;
}

/** A JSON answer: the Anthropic message is InvokeModel's body; token counts go in Bedrock's headers too. */
export async function toInvokeAnswer(response: Response, requestId: string): Promise<Response> {
  const text = await response.text();
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-amzn-requestid": requestId,
  };
  try {
    const usage = (JSON.parse(text) as { usage?: { input_tokens?: number; output_tokens?: number } }).usage;
    if (usage?.input_tokens !== undefined)
      headers["x-amzn-bedrock-input-token-count"] = String(usage.input_tokens);
    if (usage?.output_tokens !== undefined)
      headers["x-amzn-bedrock-output-token-count"] = String(usage.output_tokens);
  } catch {
    // an answer without usage: no count headers
  }
  return new Response(text, { status: 200, headers });
}

/** count_tokens' `{input_tokens}` as CountTokens' `{inputTokens}`. */
export async function toCountTokensAnswer(response: Response, requestId: string): Promise<Response> {
  const { input_tokens } = (await response.json()) as { input_tokens: number };
  return new Response(JSON.stringify({ inputTokens: input_tokens }), {
    status: 200,
    headers: { "content-type": "application/json", "x-amzn-requestid": requestId },
  });
}

/**
 * SSE as the AWS event stream: each event's JSON becomes one `chunk` frame; an `error` event
 * becomes an exception frame and ends the stream, as Bedrock ends it. `ping` has no Bedrock
 * counterpart and is dropped.
 */
export function sseToEventStream(): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new TextDecoder();
  let buffer = "";
  let ended = false;
  const frame = (block: string, controller: TransformStreamDefaultController<Uint8Array>) => {
    let event = "";
    let data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data += line.slice(5).trimStart();
    }
    if (!data || event === "ping") return;
    if (event === "error") {
      const { type, message } = anthropicErrorOf(data);
      const known = exceptionFor(type, message, null);
      controller.enqueue(encodeExceptionEvent(known.exception, { message: known.message }));
      ended = true;
      return;
    }
    controller.enqueue(encodeChunkEvent(data));
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      if (ended) return;
      buffer += decoder.decode(chunk, { stream: true });
      // Frames are cut at offsets and the rest kept once: no copy of the buffer per frame.
      let start = 0;
      let end = buffer.indexOf("\n\n");
      while (end >= 0 && !ended) {
        frame(buffer.slice(start, end), controller);
        start = end + 2;
        end = buffer.indexOf("\n\n", start);
      }
      buffer = buffer.slice(start);
    },
    flush(controller) {
      if (!ended && buffer.trim()) frame(buffer, controller);
    },
  });
}
