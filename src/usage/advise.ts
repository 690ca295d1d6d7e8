/**
 * `bedrock-claude usage advise`: concrete ways to spend less, each with the numbers from the
 * ledger behind it, an estimated monthly saving, and how to do it. Pure functions over recorded
 * requests and a PriceBook, so every figure can be checked by hand:
 *
 * - prompt caching: requests of one model and tag with long prompts and no cache reads. Assumes
 *   the smallest prompt of the group is a prefix all of them share; replays the group's times to
 *   count which requests would have read that prefix from the cache (the TTL, 5 minutes or 1 hour,
 *   restarts at each use) and which would have written it.
 * - batch inference: non-streaming requests of a tag and model, at 50% of their on-demand cost.
 * - global inference profiles: Bedrock spend on regional ids (`us.`, `eu.`, in-region) of models
 *   whose `global.` price is lower; the saving is the difference at the two prices.
 * - provisioned throughput: a model's daily on-demand spend against the model units its peak
 *   minute needs, at the hourly price the user was quoted.
 *
 * Window savings become monthly ones at the window's daily rate (30 days a month), the window
 * starting no earlier than the day of the first recorded request.
 */
import type { ModelCatalog } from "../models/catalog.js";
import { findModel } from "../models/resolve.js";
import { formatCount, formatUsd } from "./format.js";
import type { LedgerRequest } from "./ledger.js";
import { costOf, type EndpointKind, endpointKind, type Price, type PriceBook } from "./prices.js";

export const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
const DAYS_PER_MONTH = 30;
const PER_MILLION = 1_000_000;

export type AdviceKind = "prompt-caching" | "batch" | "global-profile" | "provisioned-throughput";

export interface AdviceItem {
  kind: AdviceKind;
  /** What to do, in one line. */
  what: string;
  /** Why: the numbers from the ledger. */
  why: string;
  /** How to do it. */
  how: string;
  /** USD saved over the window had it been done; null when it cannot be estimated (input missing). */
  windowSavingUsd: number | null;
  /** The same at the window's daily rate over 30 days. */
  monthlySavingUsd: number | null;
  scope: { model: string; tag?: string | null; provider?: string; regions?: string[] };
  /** The figures behind `why`, for `--json`. */
  figures: Record<string, number | string | boolean | null>;
}

export interface AdviceReport {
  since: number;
  until: number;
  /** The days that monthly figures extrapolate from. */
  days: number;
  requests: number;
  /** USD of the priced requests in the window. */
  spendUsd: number;
  unpricedRequests: number;
  /** Sorted by monthly saving, largest first; those without an estimate last. */
  items: AdviceItem[];
  /** Things looked at that do not pay, or that need input. */
  notes: string[];
}

/** A provisioned-throughput quote: USD per model unit and hour, tokens per minute one unit serves. */
export interface ProvisionedQuote {
  hourlyUsd?: number;
  tokensPerMinute?: number;
  /** The model quoted for (default: the model with the most on-demand Bedrock spend). */
  model?: string;
}

export interface AdviseOptions {
  prices: PriceBook;
  /** The window, ms since the epoch (until exclusive). */
  since: number;
  until: number;
  /** For legacy models' extended-access prices (as the recorder prices them). */
  catalog?: ModelCatalog;
  provisioned?: ProvisionedQuote;
  /** Smallest group worth advice (default 10 requests). */
  minRequests?: number;
  /**
   * The shortest prefix prompt caching stores, per model (data/bedrock.json `minCacheableTokens`);
   * default 1,024 tokens for every model.
   */
  minPrefixTokens?: number | ((anthropicName: string) => number);
}

const CACHE_TTLS = [
  { label: "5-minute", ms: 5 * MINUTE_MS, writeRate: (p: Price) => p.cacheWrite5m, ttl: null },
  { label: "1-hour", ms: 60 * MINUTE_MS, writeRate: (p: Price) => p.cacheWrite1h, ttl: "1h" },
] as const;

/** The name reports group by: the Anthropic name, else the id used, else the id asked for. */
export function modelOf(r: LedgerRequest): string {
  return r.anthropicName ?? r.modelResolved ?? r.modelRequested;
}

function answered(r: LedgerRequest): boolean {
  return r.status >= 200 && r.status < 400;
}

function tokensOf(r: LedgerRequest): number {
  return r.inputTokens + r.outputTokens + r.cacheWriteTokens + r.cacheReadTokens;
}

function unpriced(r: LedgerRequest): boolean {
  return r.costUsd === null && tokensOf(r) > 0;
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

function sum<T>(items: T[], value: (item: T) => number): number {
  let total = 0;
  for (const item of items) total += value(item);
  return total;
}

function kindOf(r: LedgerRequest, catalog: ModelCatalog | undefined): EndpointKind {
  const entry = catalog && r.anthropicName ? findModel(catalog, r.anthropicName) : undefined;
  return endpointKind(r.provider, r.modelResolved, entry, new Date(r.time));
}

/** The days a window's figures stand for: from the later of `since` and the first request's day. */
export function observedDays(requests: LedgerRequest[], since: number, until: number): number {
  let first = Number.POSITIVE_INFINITY;
  for (const r of requests) first = Math.min(first, r.time);
  const start = Number.isFinite(first) ? Math.max(since, Math.floor(first / DAY_MS) * DAY_MS) : since;
  return Math.max(1, (until - start) / DAY_MS);
}

function monthly(windowUsd: number, days: number): number {
  return (windowUsd * DAYS_PER_MONTH) / days;
}

function perMTok(usd: number): string {
  return `${formatUsd(usd)}/MTok`;
}

function pct(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((part / whole) * 100)}%` : "0%";
}

function daysText(days: number): string {
  const d = Number(days.toFixed(1));
  return `${d} day${d === 1 ? "" : "s"}`;
}

function tagText(tag: string | null): string {
  return tag === null ? "untagged" : `tagged "${tag}"`;
}

/** (a) Prompt caching for groups of one model and tag with long prompts and no cache reads. */
export function cachingAdvice(
  requests: LedgerRequest[],
  options: AdviseOptions,
  days: number,
): { items: AdviceItem[]; notes: string[] } {
  const minRequests = options.minRequests ?? 10;
  const minPrefixFor = (name: string) =>
    typeof options.minPrefixTokens === "function"
      ? options.minPrefixTokens(name)
      : (options.minPrefixTokens ?? 1024);
  const items: AdviceItem[] = [];
  const notes: string[] = [];
  const eligible = requests.filter((r) => answered(r) && r.anthropicName !== null);
  const groups = groupBy(eligible, (r) => JSON.stringify([modelOf(r), r.tag]));
  for (const group of groups.values()) {
    const model = modelOf(group[0]!);
    const tag = group[0]!.tag;
    const minPrefix = minPrefixFor(group[0]!.anthropicName!);
    if (sum(group, (r) => r.cacheReadTokens) > 0) continue; // already caching, with hits
    const long = group.filter((r) => r.inputTokens >= minPrefix).sort((a, b) => a.time - b.time);
    if (long.length < minRequests) continue;
    if (sum(group, (r) => r.cacheWriteTokens) > 0) {
      notes.push(
        `${model} ${tagText(tag)}: writes prompts to the cache but never reads them back: the cached prefix changes between requests, or they come further apart than its TTL.`,
      );
      continue;
    }
    const prefix = Math.min(...long.map((r) => r.inputTokens));
    const totalInput = sum(long, (r) => r.inputTokens);
    let inputCost = 0;
    let shown: Price | undefined;
    const runs = CACHE_TTLS.map((ttl) => {
      let last = Number.NEGATIVE_INFINITY;
      let hits = 0;
      let writes = 0;
      let saved = 0;
      let premium = 0;
      let priced = 0;
      for (const r of long) {
        const price = options.prices.priceFor(r.anthropicName, kindOf(r, options.catalog));
        if (!price) continue;
        priced++;
        shown ??= price;
        if (ttl.ms === CACHE_TTLS[0].ms) inputCost += (r.inputTokens * price.input) / PER_MILLION;
        if (r.time - last <= ttl.ms) {
          hits++;
          saved += (prefix * (price.input - price.cacheRead)) / PER_MILLION;
        } else {
          writes++;
          premium += (prefix * (ttl.writeRate(price) - price.input)) / PER_MILLION;
        }
        last = r.time;
      }
      return { ttl, hits, writes, priced, net: saved - premium };
    });
    const best = runs.reduce((a, b) => (b.net > a.net ? b : a));
    if (best.priced === 0 || !shown) continue;
    if (best.net <= 0) {
      notes.push(
        `${model} ${tagText(tag)}: ${long.length} long prompts without cache reads, but too far apart for a cache to pay (a 1-hour cache would be written ${runs[1]!.writes} times for ${runs[1]!.hits} reads).`,
      );
      continue;
    }
    const share = pct(prefix * long.length, totalInput);
    items.push({
      kind: "prompt-caching",
      what: `Cache the repeated prompt prefix of ${model} requests ${tagText(tag)} (${best.ttl.label} cache)`,
      why:
        `${formatCount(long.length)} requests sent ${formatCount(totalInput)} input tokens (${formatUsd(inputCost)}) and read nothing from the cache. ` +
        `Assuming the smallest prompt of the group (${formatCount(prefix)} tokens) is a prefix they all share (${share} of their input), ` +
        `${formatCount(best.hits)} of them would have read it from a ${best.ttl.label} cache at ${perMTok(shown.cacheRead)} instead of ${perMTok(shown.input)}, ` +
        `and ${formatCount(best.writes)} would have written it at ${perMTok(best.ttl.writeRate(shown))}: ${formatUsd(best.net)} less over ${daysText(days)}.`,
      how:
        `Put what every request repeats first (tools, system prompt, fixed documents) and mark its last block with ` +
        `"cache_control": {"type": "ephemeral"${best.ttl.ttl ? `, "ttl": "${best.ttl.ttl}"` : ""}}. ` +
        `The prefix must be identical byte for byte and at least ${formatCount(minPrefix)} tokens long on ${model}; ` +
        "`bedrock-claude usage` then shows cache read tokens for it.",
      windowSavingUsd: best.net,
      monthlySavingUsd: monthly(best.net, days),
      scope: { model, tag },
      figures: {
        requests: long.length,
        inputTokens: totalInput,
        inputCostUsd: inputCost,
        assumedPrefixTokens: prefix,
        minCacheableTokens: minPrefix,
        prefixShare: totalInput > 0 ? (prefix * long.length) / totalInput : 0,
        ttl: best.ttl.label,
        cacheHits: best.hits,
        cacheWrites: best.writes,
      },
    });
  }
  return { items, notes };
}

/** (b) Batch inference for non-streaming traffic, at 50% of its on-demand cost. */
export function batchAdvice(requests: LedgerRequest[], options: AdviseOptions, days: number): AdviceItem[] {
  const minRequests = options.minRequests ?? 10;
  const streamingByTag = new Map<string | null, number>();
  for (const r of requests) if (r.stream) streamingByTag.set(r.tag, (streamingByTag.get(r.tag) ?? 0) + 1);
  const candidates = requests.filter((r) => answered(r) && !r.stream && r.costUsd !== null && r.costUsd > 0);
  const items: AdviceItem[] = [];
  for (const group of groupBy(candidates, (r) => JSON.stringify([r.provider, modelOf(r), r.tag])).values()) {
    if (group.length < minRequests) continue;
    const { provider, tag } = group[0]!;
    const model = modelOf(group[0]!);
    const cost = sum(group, (r) => r.costUsd ?? 0);
    const saving = cost / 2;
    const streaming = streamingByTag.get(tag) ?? 0;
    const anthropic = provider === "anthropic";
    items.push({
      kind: "batch",
      what: `Send the non-streaming ${model} requests ${tagText(tag)} as ${anthropic ? "a message batch" : "batch inference jobs"}`,
      why:
        `${formatCount(group.length)} non-streaming requests cost ${formatUsd(cost)} on demand over ${daysText(days)}; ` +
        `batch costs 50% of that: ${formatUsd(saving)} less.` +
        (streaming > 0
          ? ` The same tag also made ${formatCount(streaming)} streaming requests, left out: someone is waiting for those.`
          : ""),
      how: anthropic
        ? "If the callers can wait (results come back asynchronously, within 24 hours): submit the requests with the Message Batches API (`client.messages.batches.create`) and collect the results when the batch ends."
        : "If the callers can wait (results come back asynchronously, often after hours): write the requests as JSONL records " +
          '(`{"recordId": ..., "modelInput": <the InvokeModel body>}`) to S3 and start a job with CreateModelInvocationJob ' +
          "(`aws bedrock create-model-invocation-job`) on the same model id. A job needs a minimum number of records (a Bedrock quota), so gather the work first.",
      windowSavingUsd: saving,
      monthlySavingUsd: monthly(saving, days),
      scope: { model, tag, provider },
      figures: {
        requests: group.length,
        onDemandCostUsd: cost,
        batchCostUsd: cost - saving,
        streamingRequestsOfTag: streaming,
      },
    });
  }
  return items;
}

/** The `global.` profile for a geographic or in-region id, when it can be spelled. */
export function globalIdFor(id: string | null): string | null {
  if (!id) return null;
  const bare = id.slice(id.lastIndexOf("/") + 1);
  if (/^(us|eu|apac|jp|au|us-gov|ca)\.anthropic\./.test(bare))
    return `global.${bare.slice(bare.indexOf(".") + 1)}`;
  if (bare.startsWith("anthropic.")) return `global.${bare}`;
  return null;
}

/** (c) Global inference profiles for Bedrock spend on regional ids of models priced lower on `global.`. */
export function globalProfileAdvice(
  requests: LedgerRequest[],
  options: AdviseOptions,
  days: number,
): AdviceItem[] {
  const rows: { r: LedgerRequest; regional: number; global: number }[] = [];
  for (const r of requests) {
    if (!answered(r) || r.provider !== "bedrock" || !r.anthropicName) continue;
    if (kindOf(r, options.catalog) !== "regional") continue;
    const regional = costOf(r, options.prices.priceFor(r.anthropicName, "regional"));
    const global = costOf(r, options.prices.priceFor(r.anthropicName, "global"));
    if (regional === null || global === null) continue;
    rows.push({ r, regional, global });
  }
  const items: AdviceItem[] = [];
  for (const group of groupBy(rows, (x) => modelOf(x.r)).values()) {
    const model = modelOf(group[0]!.r);
    const regional = sum(group, (x) => x.regional);
    const global = sum(group, (x) => x.global);
    const saving = regional - global;
    if (saving <= 1e-9) continue;
    const regions = [...new Set(group.map((x) => x.r.region))].sort();
    const ids = [...new Set(group.map((x) => x.r.modelResolved ?? x.r.modelRequested))].sort();
    const globalId = globalIdFor(group[0]!.r.modelResolved) ?? `global. profile of ${model}`;
    items.push({
      kind: "global-profile",
      what: `Call ${model} through its global inference profile (${globalId})`,
      why:
        `${formatCount(group.length)} requests went to regional ids (${ids.join(", ")} from ${regions.join(", ")}) and cost ${formatUsd(regional)} over ${daysText(days)}; ` +
        `the same tokens at the global price cost ${formatUsd(global)}: ${formatUsd(saving)} (${pct(saving, regional)}) less.`,
      how:
        'Set "geography": "global" in the config file (or `--geography global`, BEDROCK_CLAUDE_GEOGRAPHY=global, `createClient({ geography: "global" })`): ' +
        "model names then resolve to global. profiles. Only where requests may be served from any commercial AWS region: geographic profiles and in-region ids keep data in the geography. " +
        "The IAM policy must allow the global inference profile and the foundation model in every region (resource `arn:aws:bedrock:::foundation-model/...`).",
      windowSavingUsd: saving,
      monthlySavingUsd: monthly(saving, days),
      scope: { model, provider: "bedrock", regions },
      figures: {
        requests: group.length,
        regionalCostUsd: regional,
        globalCostUsd: global,
        ids: ids.join(" "),
      },
    });
  }
  return items;
}

/** (d) Provisioned throughput against on-demand, with the user's quote. */
export function provisionedAdvice(
  requests: LedgerRequest[],
  options: AdviseOptions,
  days: number,
): { items: AdviceItem[]; notes: string[] } {
  const quote = options.provisioned ?? {};
  const onDemand = requests.filter((r) => answered(r) && r.provider === "bedrock" && r.costUsd !== null);
  const byModel = groupBy(onDemand, modelOf);
  let model = quote.model;
  if (model !== undefined && !byModel.has(model)) {
    const asked = model;
    model = [...byModel.keys()].find((m) => byModel.get(m)!.some((r) => r.modelRequested === asked));
    if (model === undefined) {
      return {
        items: [],
        notes: [
          `No on-demand Bedrock traffic of ${asked} in the window to compare a provisioned quote with.`,
        ],
      };
    }
  }
  if (model === undefined) {
    let top = 0;
    for (const [name, group] of byModel) {
      const spend = sum(group, (r) => r.costUsd ?? 0);
      if (spend > top) [model, top] = [name, spend];
    }
  }
  if (model === undefined) return { items: [], notes: [] };
  const group = byModel.get(model)!;
  const spend = sum(group, (r) => r.costUsd ?? 0);
  const tokens = sum(group, tokensOf);
  if (spend <= 0 || tokens <= 0) return { items: [], notes: [] };
  const perMinute = new Map<number, number>();
  for (const r of group) {
    const minute = Math.floor(r.time / MINUTE_MS);
    perMinute.set(minute, (perMinute.get(minute) ?? 0) + tokensOf(r));
  }
  const peak = Math.max(...perMinute.values());
  const tokensPerDay = tokens / days;
  const spendPerDay = spend / days;
  const usage =
    `${model} on Bedrock: ${formatCount(tokensPerDay)} tokens a day (input, output and cache), ${formatUsd(spendPerDay)} a day on demand ` +
    `(${perMTok((spend / tokens) * PER_MILLION)} on average), at most ${formatCount(peak)} tokens in one minute`;
  const scope = { model, provider: "bedrock" };
  if (!(quote.hourlyUsd && quote.hourlyUsd > 0 && quote.tokensPerMinute && quote.tokensPerMinute > 0)) {
    return {
      items: [
        {
          kind: "provisioned-throughput",
          what: `Compare provisioned throughput with on-demand for ${model}`,
          why: `${usage}. Whether a model unit pays depends on the price AWS quotes you, which the ledger cannot know.`,
          how:
            `Ask AWS (console or account team) for the provisioned throughput price of ${model}: USD per model unit and hour for the commitment term you would take, ` +
            "and how many tokens per minute one unit serves. Then run `bedrock-claude usage advise --provisioned-hourly-usd <USD> --provisioned-tokens-per-minute <TOKENS>" +
            `${quote.model ? ` --provisioned-model ${model}` : ""}\`.`,
          windowSavingUsd: null,
          monthlySavingUsd: null,
          scope,
          figures: { tokensPerDay, onDemandUsdPerDay: spendPerDay, peakTokensPerMinute: peak },
        },
      ],
      notes: [],
    };
  }
  const units = Math.max(1, Math.ceil(peak / quote.tokensPerMinute));
  const provisionedPerDay = units * quote.hourlyUsd * 24;
  const breakEvenTokensPerDay = provisionedPerDay / (spend / tokens);
  const savingPerDay = spendPerDay - provisionedPerDay;
  const quoteText =
    `${units} model unit${units === 1 ? "" : "s"} (${formatCount(quote.tokensPerMinute)} tokens/minute each, for that peak) at ` +
    `${formatUsd(quote.hourlyUsd)}/hour cost ${formatUsd(provisionedPerDay)} a day`;
  const figures = {
    tokensPerDay,
    onDemandUsdPerDay: spendPerDay,
    peakTokensPerMinute: peak,
    units,
    provisionedUsdPerDay: provisionedPerDay,
    breakEvenTokensPerDay,
  };
  if (savingPerDay <= 0) {
    return {
      items: [],
      notes: [
        `Provisioned throughput does not pay for ${model} yet: ${usage}; ${quoteText}. ` +
          `It pays from ${formatCount(breakEvenTokensPerDay)} tokens a day at this mix (${(breakEvenTokensPerDay / tokensPerDay).toFixed(1)}× today's).`,
      ],
    };
  }
  return {
    items: [
      {
        kind: "provisioned-throughput",
        what: `Buy provisioned throughput for ${model}`,
        why:
          `${usage}; ${quoteText}. ` +
          `It pays from ${formatCount(breakEvenTokensPerDay)} tokens a day; you are past that: ${formatUsd(savingPerDay)} a day less.`,
        how:
          `Create ${units} model unit${units === 1 ? "" : "s"} with the quoted commitment (console, or \`aws bedrock create-provisioned-model-throughput\`) ` +
          "and send this model's requests to the provisioned model ARN (as the model id). The hourly price is charged whether used or not: " +
          "keep on-demand (a second target) for peaks above the units.",
        windowSavingUsd: savingPerDay * days,
        monthlySavingUsd: savingPerDay * DAYS_PER_MONTH,
        scope,
        figures,
      },
    ],
    notes: [],
  };
}

/** All advice for the requests of a window. */
export function advise(requests: LedgerRequest[], options: AdviseOptions): AdviceReport {
  const inWindow = requests.filter((r) => r.time >= options.since && r.time < options.until);
  const days = observedDays(inWindow, options.since, options.until);
  const caching = cachingAdvice(inWindow, options, days);
  const provisioned = provisionedAdvice(inWindow, options, days);
  const items = [
    ...caching.items,
    ...batchAdvice(inWindow, options, days),
    ...globalProfileAdvice(inWindow, options, days),
    ...provisioned.items,
  ].sort(
    (a, b) =>
      (b.monthlySavingUsd ?? Number.NEGATIVE_INFINITY) - (a.monthlySavingUsd ?? Number.NEGATIVE_INFINITY),
  );
  const notes = [...caching.notes, ...provisioned.notes];
  const unpricedRequests = inWindow.filter(unpriced);
  if (unpricedRequests.length > 0) {
    const models = [...new Set(unpricedRequests.map(modelOf))].sort();
    notes.push(
      `${formatCount(unpricedRequests.length)} request${unpricedRequests.length === 1 ? " has" : "s have"} no price (${models.join(", ")}): their cost is unknown and no saving on them is counted.`,
    );
  }
  if (items.filter((i) => i.monthlySavingUsd !== null).length > 1) {
    notes.push(
      "Savings overlap where advice covers the same requests (a batch of cached prompts saves less than both): do not add them up.",
    );
  }
  return {
    since: options.since,
    until: options.until,
    days,
    requests: inWindow.length,
    spendUsd: sum(inWindow, (r) => r.costUsd ?? 0),
    unpricedRequests: unpricedRequests.length,
    items,
    notes,
  };
}
