/**
 * A gateway in front of an emulator, for tests: both on 127.0.0.1, the gateway's ledger and keys
 * in a fresh temporary folder, its log lines kept in memory.
 */
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import type { RunningEmulator, StartEmulatorOptions } from "../../src/emulator/index.js";
import { type RunningGateway, type StartGatewayOptions, startGateway } from "../../src/gateway/index.js";
import { SqliteLedger } from "../../src/usage/sqlite-ledger.js";
import { useEmulator } from "../helpers.js";

export interface GatewayHarness {
  readonly gateway: RunningGateway;
  readonly emulator: RunningEmulator;
  /** The gateway's folder (ledger.db, keys.db). */
  readonly dir: string;
  /** Log lines, parsed. */
  readonly logs: Record<string, unknown>[];
  /** The ledger the gateway writes, opened for reading. */
  ledger(): SqliteLedger;
}

/** Options pointing a gateway at an emulator: one Bedrock InvokeModel target in us-west-2 unless told otherwise. */
export function emulatorTarget(emulator: RunningEmulator): StartGatewayOptions {
  return {
    provider: "bedrock",
    region: "us-west-2",
    endpoint: emulator.url,
    credentials: {
      accessKeyId: emulator.credentials.accessKeyId,
      secretAccessKey: emulator.credentials.secretAccessKey,
    },
    discovery: false,
    // Failures surface at once in tests (no retry waits) unless a test asks for them.
    resilience: { retry: { maxAttempts: 1 }, breaker: false },
  };
}

export function useGateway(
  options: (emulator: RunningEmulator, dir: string) => StartGatewayOptions = () => ({}),
  emulatorOptions: StartEmulatorOptions = {},
): GatewayHarness {
  const emulator = useEmulator(emulatorOptions);
  const logs: Record<string, unknown>[] = [];
  const holder = { gateway: undefined as unknown as RunningGateway, dir: "" };
  let ledger: SqliteLedger | undefined;
  beforeAll(async () => {
    holder.dir = mkdtempSync(path.join(os.tmpdir(), "bc-gateway-"));
    holder.gateway = await startGateway({
      port: 0,
      host: "127.0.0.1",
      ...emulatorTarget(emulator.current),
      ledger: { path: path.join(holder.dir, "ledger.db") },
      keys: { path: path.join(holder.dir, "keys.db") },
      logging: { sink: (line) => logs.push(JSON.parse(line) as Record<string, unknown>) },
      ...options(emulator.current, holder.dir),
    });
  });
  afterAll(async () => {
    await holder.gateway?.close();
    ledger?.close();
  });
  return {
    get gateway() {
      return holder.gateway;
    },
    get emulator() {
      return emulator.current;
    },
    get dir() {
      return holder.dir;
    },
    logs,
    ledger() {
      ledger ??= new SqliteLedger(path.join(holder.dir, "ledger.db"));
      return ledger;
    },
  };
}
