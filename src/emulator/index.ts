/**
 * `startEmulator()`: a faithful local Bedrock on one port, every region at once (the region is
 * the one in the request's SigV4 credential scope). See docs/emulator.md.
 */
import { getRequestListener } from "@hono/node-server";
import { listenDualProtocol, type RequestListener } from "../server/dual-protocol.js";
import { createEmulatorApp } from "./app.js";
import {
  DEFAULT_ANTHROPIC_API_KEY,
  DEFAULT_API_KEY,
  DEFAULT_IDENTITY,
  type EmulatorConfig,
  type EmulatorConfigInput,
  type FaultSpec,
  type FaultSpecInput,
  faultSpecSchema,
  loadEmulatorConfigFile,
  parseEmulatorConfig,
} from "./config.js";
import type { RequestRecord, UsageTotals } from "./journal.js";
import { createState, type EmulatorState } from "./state.js";

export type { FaultRule } from "./config.js";
export {
  DEFAULT_ANTHROPIC_API_KEY,
  DEFAULT_API_KEY,
  type EmulatorConfigInput,
  type FaultSpec,
  parseFaultSpec,
} from "./config.js";
export type { RequestRecord, UsageTotals } from "./journal.js";

export interface StartEmulatorOptions {
  /** Default 4010; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Configuration, or the path of a JSON config file. */
  config?: EmulatorConfigInput | string;
  /** Faults to start with (overrides the config file's). */
  faults?: FaultSpec;
  /** Seed for faults and ids: a seeded run repeats exactly. */
  seed?: number;
  /** Clock, for tests of expiry and quotas. */
  now?: () => number;
}

export interface RunningEmulator {
  url: string;
  port: number;
  host: string;
  /** The default identity's credentials and keys, for clients pointed at this emulator. */
  credentials: {
    accessKeyId: string;
    secretAccessKey: string;
    apiKey: string;
    anthropicApiKey: string;
    account: string;
  };
  setFaults(spec: FaultSpecInput): void;
  clearFaults(): void;
  requests(): readonly RequestRecord[];
  usage(): UsageTotals[];
  /** Clears the request log and usage totals. */
  resetJournal(): void;
  /** The emulator's state, for embedding (tests, the CLI). */
  readonly state: EmulatorState;
  close(): Promise<void>;
}

export async function startEmulator(options: StartEmulatorOptions = {}): Promise<RunningEmulator> {
  let config: EmulatorConfig =
    typeof options.config === "string"
      ? loadEmulatorConfigFile(options.config)
      : parseEmulatorConfig(options.config);
  if (options.seed !== undefined) config = { ...config, seed: options.seed };
  if (options.faults) config = { ...config, faults: options.faults };
  const state = createState(config, options.now);
  const app = createEmulatorApp(state);
  // overrideGlobalObjects: false keeps the process's own Request/Response untouched for embedders.
  const listener = getRequestListener(app.fetch, {
    overrideGlobalObjects: false,
  }) as unknown as RequestListener;
  const server = await listenDualProtocol(
    listener,
    options.port ?? 4010,
    options.host ?? "127.0.0.1",
    (status, reason) => ({
      contentType: "application/json",
      body: JSON.stringify({ message: reason }),
      headers: {
        "x-amzn-errortype": `${status === 431 ? "RequestHeaderFieldsTooLarge" : "SerializationException"}:http://internal.amazon.com/coral/com.amazon.coral.service/`,
        "x-amzn-requestid": state.nextRequestId(),
      },
    }),
  );
  return {
    url: server.url,
    port: server.port,
    host: server.host,
    credentials: {
      accessKeyId: DEFAULT_IDENTITY.accessKeyId,
      secretAccessKey: DEFAULT_IDENTITY.secretAccessKey,
      apiKey: DEFAULT_API_KEY,
      anthropicApiKey: DEFAULT_ANTHROPIC_API_KEY,
      account: DEFAULT_IDENTITY.account,
    },
    // Through the schema: defaults (rate 1) and validation, as the admin API applies them.
    setFaults: (spec) => state.faults.set(faultSpecSchema.parse(spec)),
    clearFaults: () => state.faults.clear(),
    requests: () => state.journal.requests(),
    usage: () => state.journal.usageTotals(),
    resetJournal: () => state.journal.clear(),
    state,
    close: () => server.close(),
  };
}
