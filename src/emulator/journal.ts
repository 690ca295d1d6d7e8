/**
 * What the emulator saw: a bounded log of requests (`GET /_emulator/requests`) and the totals of
 * tokens billed by API, region and model (`GET /_emulator/usage`).
 */
export type Api =
  | "bedrock-runtime"
  | "bedrock-native"
  | "bedrock-mantle"
  | "anthropic"
  | "control-plane"
  | "sts"
  | "admin";

export interface RequestRecord {
  time: string;
  requestId: string;
  api: Api;
  operation: string;
  region: string | null;
  /** The model id as requested (path id or body `model`). */
  model: string | null;
  /** The Bedrock foundation model it resolved to. */
  foundationModel: string | null;
  identity: string | null;
  status: number;
  errorName: string | null;
  /** How the exchange ended: answered in full, error, client went away, or connection reset. */
  outcome: "completed" | "error" | "client_closed" | "connection_reset";
  stream: boolean;
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens: number;
  cacheWriteInputTokens: number;
  latencyMs: number;
}

export interface UsageTotals {
  api: Api;
  region: string | null;
  model: string;
  foundationModel: string | null;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens: number;
  cacheWriteInputTokens: number;
}

export class Journal {
  private records: RequestRecord[] = [];
  private readonly usage = new Map<string, UsageTotals>();
  private readonly listeners = new Set<(entry: RequestRecord) => void>();

  constructor(private readonly capacity: number) {}

  /** Calls `listener` with every record from now on; returns the unsubscribe function. */
  subscribe(listener: (entry: RequestRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  record(entry: RequestRecord): void {
    for (const listener of this.listeners) listener(entry);
    this.records.push(entry);
    if (this.records.length > this.capacity) this.records.splice(0, this.records.length - this.capacity);
    const billed =
      entry.inputTokens + entry.outputTokens + entry.cacheReadInputTokens + entry.cacheWriteInputTokens;
    if (billed === 0 || entry.model === null) return;
    const key = `${entry.api}|${entry.region}|${entry.model}`;
    let totals = this.usage.get(key);
    if (!totals) {
      totals = {
        api: entry.api,
        region: entry.region,
        model: entry.model,
        foundationModel: entry.foundationModel,
        requests: 0,
        inputTokens: 0,
        outputTokens: 0,
        cacheReadInputTokens: 0,
        cacheWriteInputTokens: 0,
      };
      this.usage.set(key, totals);
    }
    totals.requests++;
    totals.inputTokens += entry.inputTokens;
    totals.outputTokens += entry.outputTokens;
    totals.cacheReadInputTokens += entry.cacheReadInputTokens;
    totals.cacheWriteInputTokens += entry.cacheWriteInputTokens;
  }

  requests(): readonly RequestRecord[] {
    return this.records;
  }

  usageTotals(): UsageTotals[] {
    return [...this.usage.values()];
  }

  clear(): void {
    this.records = [];
    this.usage.clear();
  }
}
