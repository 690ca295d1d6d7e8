/**
 * Live discovery from Bedrock's control plane (ListInferenceProfiles, ListFoundationModels), so
 * that ids newer than the shipped catalog still resolve. Answers are cached per target with a
 * TTL; a failure (an invoke-only role without `bedrock:List*`, no network) is cached briefly and
 * never fails a request: the catalog stays the authority then.
 */
import { authorize } from "../transport/auth.js";
import type { Target } from "../transport/target.js";
import type { UpstreamFetch } from "../transport/upstream.js";

export interface DiscoveredModels {
  /** System inference profile ids callable from the region. */
  profiles: Set<string>;
  /** Anthropic foundation model ids listed in the region, with their inference types. */
  foundationModels: Map<string, string[]>;
}

const FAILURE_TTL_MS = 60_000;

export class ModelDiscovery {
  private readonly cache = new Map<
    string,
    { expires: number; value: Promise<DiscoveredModels | undefined> }
  >();

  constructor(
    private readonly upstream: UpstreamFetch,
    private readonly ttlMs = 60 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  private async get(target: Target, path: string): Promise<Record<string, unknown>> {
    const url = new URL(`${target.controlPlaneUrl}${path}`);
    const headers = await authorize(
      target,
      { method: "GET", url, headers: { accept: "application/json" } },
      "runtime",
    );
    const response = await this.upstream(url.toString(), { method: "GET", headers });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return (await response.json()) as Record<string, unknown>;
  }

  private async load(target: Target): Promise<DiscoveredModels> {
    const profiles = new Set<string>();
    let nextToken: string | undefined;
    do {
      const query = `?type=SYSTEM_DEFINED&maxResults=1000${nextToken ? `&nextToken=${encodeURIComponent(nextToken)}` : ""}`;
      const page = await this.get(target, `/inference-profiles${query}`);
      for (const p of (page.inferenceProfileSummaries as {
        inferenceProfileId?: string;
        status?: string;
      }[]) ?? []) {
        if (p.inferenceProfileId && p.status !== "INACTIVE") profiles.add(p.inferenceProfileId);
      }
      nextToken = page.nextToken as string | undefined;
    } while (nextToken);
    const models = await this.get(target, "/foundation-models?byProvider=anthropic");
    const foundationModels = new Map<string, string[]>();
    for (const m of (models.modelSummaries as { modelId?: string; inferenceTypesSupported?: string[] }[]) ??
      []) {
      if (m.modelId) foundationModels.set(m.modelId, m.inferenceTypesSupported ?? []);
    }
    return { profiles, foundationModels };
  }

  /** What the target's region serves, or undefined when the control plane cannot tell us. */
  discover(target: Target): Promise<DiscoveredModels | undefined> {
    const key = `${target.controlPlaneUrl}|${target.region}`;
    const cached = this.cache.get(key);
    if (cached && cached.expires > this.now()) return cached.value;
    const value = this.load(target).then(
      (found) => found,
      () => {
        this.cache.set(key, { expires: this.now() + FAILURE_TTL_MS, value: Promise.resolve(undefined) });
        return undefined;
      },
    );
    this.cache.set(key, { expires: this.now() + this.ttlMs, value });
    return value;
  }

  /**
   * A Bedrock id the live region serves that the catalog does not know, or undefined. A
   * foundation id that needs a profile gets the first profile of `geographies` (most preferred
   * first) that the region has.
   */
  async resolveUnknown(
    target: Target,
    name: string,
    geographies: readonly string[],
  ): Promise<string | undefined> {
    if (target.provider !== "bedrock") return undefined;
    const found = await this.discover(target);
    if (!found) return undefined;
    if (found.profiles.has(name)) return name;
    const types = found.foundationModels.get(name);
    if (types?.includes("ON_DEMAND")) return name;
    for (const prefix of geographies) {
      if (found.profiles.has(`${prefix}.${name}`)) return `${prefix}.${name}`;
    }
    return undefined;
  }
}
