/**
 * The `gateway` section of the config file: what only `bedrock-claude serve` reads (listen
 * address, keys store, admin key, request limits, logging, tracing). The chain, aliases, prices,
 * ledger and budgets are the same settings the library reads, at the top level of the same file.
 */
import { z } from "zod";

export const gatewaySectionSchema = z
  .object({
    host: z.string().optional(),
    port: z.number().int().min(0).max(65535).optional(),
    /** The virtual keys' store (SQLite file); default `$BEDROCK_CLAUDE_HOME/keys.db`. */
    keys: z.object({ path: z.string().optional() }).strict().optional(),
    /** A static admin key (prefer `BEDROCK_CLAUDE_ADMIN_KEY`, or `keys create --admin`). */
    adminKey: z.string().min(16).optional(),
    /** Run without keys on a non-loopback address: only behind something that authenticates. */
    insecureNoAuth: z.boolean().optional(),
    limits: z
      .object({
        /** Largest request body, bytes (default 32 MiB, the Anthropic API's). */
        maxBodyBytes: z.number().int().positive().optional(),
        /** Time allowed for a client to send the request headers, ms (default 30 s). */
        headersTimeoutMs: z.number().int().positive().optional(),
        /** Idle keep-alive connections close after, ms (default 65 s). */
        idleTimeoutMs: z.number().int().positive().optional(),
        /** Longest wait for in-flight requests at shutdown, ms (default 30 s). */
        drainMs: z.number().int().min(0).optional(),
      })
      .strict()
      .optional(),
    logging: z
      .object({
        /** One JSON line per request on stdout (default true). */
        requests: z.boolean().optional(),
        /** Include prompt and completion text in the request lines (default false). */
        prompts: z.boolean().optional(),
      })
      .strict()
      .optional(),
    /** OpenTelemetry traces (GenAI semantic conventions) to an OTLP/HTTP collector. */
    otel: z
      .object({
        /** e.g. http://127.0.0.1:4318/v1/traces; default `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`. */
        endpoint: z.string().url().optional(),
        serviceName: z.string().optional(),
      })
      .strict()
      .optional(),
    /** How long `/readyz` reuses a doctor run, ms (default 30 s). */
    readyCacheMs: z.number().int().min(0).optional(),
  })
  .strict();

export type GatewaySection = z.infer<typeof gatewaySectionSchema>;
