/**
 * `runDoctor()`: checks each link from configuration to a real invocation, in order, and says
 * which one is broken and how to fix it. Each target of the chain is checked; a later check is
 * skipped when an earlier one makes it meaningless.
 */

import { credentialProvider } from "../aws/credentials.js";
import { resolveRegion } from "../aws/region.js";
import { errorNameFromHeader, parseAwsErrorBody } from "../bedrock/errors.js";
import { type CreateClientOptions, resolveTargets } from "../client.js";
import { mergeSettings } from "../config/settings.js";
import { isPastBedrockEndOfLife, type ModelEntry, shippedCatalog } from "../models/catalog.js";
import { findModel, ModelResolutionError, resolveModel } from "../models/resolve.js";
import { authorize } from "../transport/auth.js";
import type { Target } from "../transport/target.js";
import { createTransport } from "../transport/transport.js";
import { createUpstreamFetch, type UpstreamFetch } from "../transport/upstream.js";
import { type CredentialSource, detectCredentialSource } from "./credential-source.js";
import { explainAwsError, invokePolicy } from "./explain.js";
import type { CheckResult, DoctorReport, TargetReport } from "./report.js";

export interface DoctorOptions extends CreateClientOptions {
  /** The model to check (default: the catalog's default). */
  model?: string;
  /** Make a real, minimal invocation (1 output token) to prove the permission. */
  invoke?: boolean;
  /** The STS endpoint (default: the target's endpoint when one is set, else sts.{region}). */
  stsEndpoint?: string;
  /** Clock, for tests. */
  now?: () => number;
}

const SKEW_FAIL_MS = 5 * 60_000;
const SKEW_WARN_MS = 60_000;

interface Probe {
  status: number;
  headers: Headers;
  text: string;
}

async function send(
  upstream: UpstreamFetch,
  target: Target,
  method: string,
  url: URL,
  body?: string,
  contentType = "application/json",
): Promise<Probe> {
  const bytes = body === undefined ? undefined : new TextEncoder().encode(body);
  const headers = await authorize(
    target,
    { method, url, headers: { "content-type": contentType, accept: "*/*" }, body: bytes },
    "runtime",
  );
  const response = await upstream(url.toString(), {
    method,
    headers,
    body: bytes,
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

function networkProblem(error: unknown, url: string): { detail: string; fix: string } {
  const code =
    (error as { cause?: { code?: string }; code?: string }).cause?.code ??
    (error as { code?: string }).code ??
    "";
  const host = new URL(url).host;
  const table: Record<string, { detail: string; fix: string }> = {
    ECONNREFUSED: {
      detail: `${host} refused the connection.`,
      fix: "Check --endpoint (is the service or VPC endpoint up?), security groups, and the port.",
    },
    ENOTFOUND: {
      detail: `${host} does not resolve (DNS).`,
      fix: "Check the region and endpoint spelling; in a VPC, enable private DNS on the Bedrock interface endpoint.",
    },
    EAI_AGAIN: {
      detail: `DNS lookup of ${host} failed temporarily.`,
      fix: "Check the resolver and network.",
    },
    ETIMEDOUT: {
      detail: `Connecting to ${host} timed out.`,
      fix: "Check routes, security groups, NACLs and the proxy (HTTPS_PROXY).",
    },
    UND_ERR_CONNECT_TIMEOUT: {
      detail: `Connecting to ${host} timed out.`,
      fix: "Check routes, security groups, NACLs and the proxy (HTTPS_PROXY).",
    },
    CERT_HAS_EXPIRED: {
      detail: `TLS: ${host}'s certificate has expired.`,
      fix: "Check the endpoint (a proxy intercepting TLS?).",
    },
    UNABLE_TO_VERIFY_LEAF_SIGNATURE: {
      detail: `TLS: ${host}'s certificate is not trusted.`,
      fix: "A TLS-intercepting proxy? Set NODE_EXTRA_CA_CERTS to its CA bundle.",
    },
  };
  return (
    table[code] ?? {
      detail: `${host} could not be reached: ${(error as Error).message}${code ? ` (${code})` : ""}.`,
      fix: "Check the network, proxy and endpoint.",
    }
  );
}

async function checkTarget(
  target: Target,
  options: DoctorOptions,
  upstream: UpstreamFetch,
  regionSource: string,
): Promise<TargetReport> {
  const catalog = options.catalog ?? shippedCatalog();
  const checks: CheckResult[] = [];
  const add = (check: CheckResult) => checks.push(check);
  const failed = () => checks.some((c) => c.status === "fail");
  const skip = (id: string, title: string, why: string) => add({ id, title, status: "skip", detail: why });
  const now = options.now ?? Date.now;

  // 1. Configuration.
  add({
    id: "config",
    title: "Configuration",
    status: "pass",
    detail: `${target.provider}${target.provider === "anthropic" ? "" : ` in ${target.region} (region from ${regionSource})`}, endpoint ${target.baseUrl}${target.provider === "bedrock" ? ` (${target.bedrockApi === "invoke" ? "InvokeModel" : "Messages API"})` : ""}`,
    evidence: { provider: target.provider, region: target.region, regionSource, endpoint: target.baseUrl },
  });
  if (target.provider === "anthropic") {
    add(
      target.auth.kind === "x-api-key" && target.auth.key
        ? { id: "credentials", title: "Credentials", status: "pass", detail: "Anthropic API key set." }
        : {
            id: "credentials",
            title: "Credentials",
            status: "fail",
            detail: "No Anthropic API key.",
            fix: "export ANTHROPIC_API_KEY=...",
          },
    );
    return {
      target: target.name,
      provider: target.provider,
      region: target.region,
      checks,
      ready: !failed(),
    };
  }

  // 2. Credentials.
  const source: CredentialSource = await detectCredentialSource({
    profile: options.profile,
    apiKey: options.apiKey,
  });
  const apiKey = target.auth.kind === "bearer";
  let account: string | undefined;
  if (source.problem && !options.credentials) {
    add({
      id: "credentials",
      title: "Credentials",
      status: "fail",
      detail: source.problem.detail,
      fix: source.problem.fix,
      evidence: { source: source.description },
    });
  } else if (apiKey) {
    add({
      id: "credentials",
      title: "Credentials",
      status: "pass",
      detail: `${source.description}; a Bedrock API key is checked by the calls below.`,
      evidence: { source: source.kind },
    });
  } else {
    try {
      const provider = credentialProvider({ credentials: options.credentials, profile: options.profile });
      let timer: NodeJS.Timeout | undefined;
      const credentials = await Promise.race([
        provider(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("timed out after 10 s")), 10_000);
        }),
      ]).finally(() => clearTimeout(timer));
      const expires = credentials.expiration?.getTime();
      const minutesLeft = expires === undefined ? undefined : Math.round((expires - now()) / 60_000);
      const described = options.credentials ? "credentials given in code" : source.description;
      if (minutesLeft !== undefined && minutesLeft <= 0) {
        add({
          id: "credentials",
          title: "Credentials",
          status: "fail",
          detail: `${described}: the session expired ${-minutesLeft} minutes ago.`,
          fix:
            source.kind === "sso"
              ? `aws sso login --profile ${source.profile}`
              : "Get fresh temporary credentials.",
        });
      } else {
        add({
          id: "credentials",
          title: "Credentials",
          status: minutesLeft !== undefined && minutesLeft < 15 ? "warn" : "pass",
          detail: `${described}, access key ${credentials.accessKeyId.slice(0, 4)}…${credentials.sessionToken ? " (temporary)" : ""}${minutesLeft !== undefined ? `, expires in ${minutesLeft} min` : ""}`,
          evidence: {
            source: source.kind,
            accessKeyId: `${credentials.accessKeyId.slice(0, 4)}…`,
            expiresInMinutes: minutesLeft,
          },
        });
      }
    } catch (error) {
      const message = (error as Error).message;
      const sso = source.kind === "sso" || /sso/i.test(message);
      add({
        id: "credentials",
        title: "Credentials",
        status: "fail",
        detail: `${source.description}: ${message}`,
        fix: sso
          ? `aws sso login${source.profile ? ` --profile ${source.profile}` : ""}`
          : "aws configure (or aws configure sso), or export AWS_PROFILE / AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
      });
    }
  }

  // 3. Identity (STS GetCallerIdentity: needs no permission).
  if (failed()) skip("identity", "Identity", "skipped: no usable credentials");
  else if (apiKey) skip("identity", "Identity", "an API key has no STS identity; its owner shows in IAM");
  else {
    const stsBase =
      options.stsEndpoint ??
      options.endpoint ??
      process.env.AWS_ENDPOINT_URL_STS ??
      `https://sts.${target.region}.amazonaws.com`;
    const stsTarget: Target = { ...target };
    if (target.auth.kind === "sigv4") {
      const { RequestSigner } = await import("../aws/sign.js");
      const credentials = credentialProvider({ credentials: options.credentials, profile: options.profile });
      const signer = new RequestSigner("sts", target.region, credentials);
      stsTarget.auth = { kind: "sigv4", signer, runtimeSigner: signer };
    }
    try {
      const probe = await send(
        upstream,
        stsTarget,
        "POST",
        new URL(`${stsBase.replace(/\/$/, "")}/`),
        "Action=GetCallerIdentity&Version=2011-06-15",
        "application/x-www-form-urlencoded",
      );
      if (probe.status === 200) {
        account = /<Account>([^<]+)<\/Account>/.exec(probe.text)?.[1];
        const arn = /<Arn>([^<]+)<\/Arn>/.exec(probe.text)?.[1];
        add({
          id: "identity",
          title: "Identity",
          status: "pass",
          detail: `${arn} (account ${account})`,
          evidence: { account, arn },
        });
      } else {
        const code = /<Code>([^<]+)<\/Code>/.exec(probe.text)?.[1];
        const message = /<Message>([^<]*)<\/Message>/.exec(probe.text)?.[1] ?? `HTTP ${probe.status}`;
        const explained = explainAwsError(code, message, {
          region: target.region,
          profile: source.profile,
          sso: source.kind === "sso",
        });
        add({
          id: "identity",
          title: "Identity",
          status: "fail",
          detail: explained.detail,
          fix: explained.fix,
          evidence: { code, message },
        });
      }
    } catch (error) {
      const problem = networkProblem(error, stsBase);
      add({
        id: "identity",
        title: "Identity",
        status: "warn",
        detail: `STS unreachable: ${problem.detail}`,
        fix: problem.fix,
      });
    }
  }

  // 4. Reachability and clock.
  let reachable = false;
  try {
    const response = await upstream(`${target.runtimeUrl}/`, {
      method: "GET",
      headers: {},
      signal: AbortSignal.timeout(10_000),
    });
    await response.arrayBuffer();
    reachable = true;
    add({
      id: "reachability",
      title: "Reachability",
      status: "pass",
      detail: `${new URL(target.runtimeUrl).host} answers (HTTP ${response.status}).`,
    });
    const date = response.headers.get("date");
    if (date) {
      const skew = now() - Date.parse(date);
      const seconds = Math.round(skew / 1000);
      const status = Math.abs(skew) > SKEW_FAIL_MS ? "fail" : Math.abs(skew) > SKEW_WARN_MS ? "warn" : "pass";
      add({
        id: "clock",
        title: "Clock",
        status,
        detail: `${Math.abs(seconds)} s ${skew >= 0 ? "ahead of" : "behind"} the server${status === "fail" ? ": AWS refuses signatures more than 5 minutes off" : ""}.`,
        ...(status === "pass"
          ? {}
          : {
              fix: "Sync the clock: sudo chronyc makestep (Linux), sudo sntp -sS time.apple.com (macOS), w32tm /resync (Windows).",
            }),
        evidence: { serverDate: date, skewSeconds: seconds },
      });
    }
  } catch (error) {
    const problem = networkProblem(error, target.runtimeUrl);
    add({
      id: "reachability",
      title: "Reachability",
      status: "fail",
      detail: problem.detail,
      fix: problem.fix,
    });
  }
  if (!checks.some((c) => c.id === "clock")) {
    skip(
      "clock",
      "Clock",
      reachable ? "the server sent no Date header to compare with" : "skipped: the endpoint is unreachable",
    );
  }

  // 5. Model.
  const requested = options.model ?? catalog.defaultModel;
  let entry: ModelEntry | undefined = findModel(catalog, requested);
  let resolvedId: string | undefined;
  try {
    const resolved = resolveModel(catalog, requested, {
      provider: target.provider,
      region: target.region,
      geography: target.geography,
      aliases: options.aliases,
    });
    resolvedId = resolved.id;
    entry = resolved.entry ?? entry;
    const onDemandAsked = entry && requested === entry.bedrockModelId && resolved.id !== requested;
    const lifecycle =
      entry?.lifecycle.status === "LEGACY"
        ? `; legacy${entry.lifecycle.endOfLife ? `, end of life ${entry.lifecycle.endOfLife}` : ""}`
        : "";
    add({
      id: "model",
      title: "Model",
      status: onDemandAsked || lifecycle ? "warn" : "pass",
      detail: onDemandAsked
        ? `${requested} needs an inference profile for on-demand use here; bedrock-claude calls ${resolved.id} instead${lifecycle}.`
        : `${requested} → ${resolved.id}${lifecycle}.`,
      ...(onDemandAsked
        ? {
            fix: `Use ${resolved.id} (or the name ${entry?.aliases[0] ?? entry?.anthropicName}) when calling Bedrock directly.`,
          }
        : lifecycle
          ? { fix: `Plan the move to ${catalog.defaultModel}.` }
          : {}),
      evidence: { requested, resolved: resolved.id, kind: resolved.kind, verified: entry?.verified },
    });
  } catch (error) {
    if (!(error instanceof ModelResolutionError)) throw error;
    const regions = entry ? [...catalog.regionsOf(entry)].sort() : [];
    add({
      id: "model",
      title: "Model",
      status: "fail",
      detail:
        entry && isPastBedrockEndOfLife(entry, new Date(now()))
          ? error.message
          : `${requested} is not available in ${target.region}.`,
      fix:
        entry && regions.length > 0
          ? `Use a region that serves it (${regions.slice(0, 8).join(", ")}${regions.length > 8 ? ", …" : ""}), or one of: ${error.choices.slice(0, 6).join(", ")}.`
          : `Use one of: ${error.choices.slice(0, 8).join(", ")}.`,
    });
  }

  // 6. Access (GetFoundationModelAvailability).
  if (!entry || failed() || !reachable) skip("access", "Model access", "skipped: an earlier check failed");
  else if (target.provider === "bedrock-mantle")
    skip("access", "Model access", "Mantle has no availability API; the invocation proves access");
  else {
    try {
      const probe = await send(
        upstream,
        target,
        "GET",
        new URL(
          `${target.controlPlaneUrl}/foundation-model-availability/${encodeURIComponent(entry.bedrockModelId)}`,
        ),
      );
      if (probe.status === 200) {
        const a = JSON.parse(probe.text) as {
          agreementAvailability?: { status?: string };
          authorizationStatus?: string;
          entitlementAvailability?: string;
          regionAvailability?: string;
        };
        const problems: string[] = [];
        if (a.regionAvailability && a.regionAvailability !== "AVAILABLE")
          problems.push(`not available in ${target.region}`);
        if (a.agreementAvailability?.status && a.agreementAvailability.status !== "AVAILABLE")
          problems.push(`agreement ${a.agreementAvailability.status}`);
        if (a.authorizationStatus && a.authorizationStatus !== "AUTHORIZED") problems.push("not authorized");
        if (a.entitlementAvailability && a.entitlementAvailability !== "AVAILABLE")
          problems.push("no entitlement");
        add(
          problems.length === 0
            ? {
                id: "access",
                title: "Model access",
                status: "pass",
                detail: `${entry.modelName}: access granted in ${target.region}.`,
                evidence: a,
              }
            : {
                id: "access",
                title: "Model access",
                status: "fail",
                detail: `${entry.modelName} in ${target.region}: ${problems.join(", ")}.`,
                fix: `In the Bedrock console of ${target.region}, open Model access and enable ${entry.modelName}; Anthropic models need the use-case form once per account. AWS Marketplace permissions (aws-marketplace:Subscribe) are needed the first time.`,
                evidence: a,
              },
        );
      } else {
        const name = errorNameFromHeader(probe.headers.get("x-amzn-errortype"));
        const message = parseAwsErrorBody(probe.text).message ?? `HTTP ${probe.status}`;
        add({
          id: "access",
          title: "Model access",
          status: "warn",
          detail: `Could not check model access (${name ?? probe.status}: ${message}); the invocation check proves it.`,
          fix: "Allow bedrock:GetFoundationModelAvailability to let the doctor check, or run with --invoke.",
        });
      }
    } catch (error) {
      add({
        id: "access",
        title: "Model access",
        status: "warn",
        detail: `Could not check model access: ${(error as Error).message}`,
      });
    }
  }

  // 7. Permission: a real, minimal invocation.
  if (!options.invoke) {
    skip(
      "permission",
      "Permission",
      "unproven: run with --invoke for a real 1-token call (it costs a fraction of a cent)",
    );
  } else if (!resolvedId || failed()) {
    skip("permission", "Permission", "skipped: an earlier check failed");
  } else {
    const fetch = createTransport({
      targets: [target],
      catalog,
      discovery: false,
      resilience: { retry: { maxAttempts: 1 }, breaker: false },
    });
    const denied: string[] = [];
    for (const stream of [false, true]) {
      const response = await fetch("https://doctor.invalid/v1/messages", {
        method: "POST",
        headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
        body: JSON.stringify({
          model: resolvedId,
          max_tokens: 1,
          stream,
          messages: [{ role: "user", content: "ok" }],
        }),
      });
      const text = await response.text();
      if (!response.ok) {
        const message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
        denied.push(`${stream ? "InvokeModelWithResponseStream" : "InvokeModel"}: ${message}`);
        const name = response.headers.get("x-amzn-errortype") ?? undefined;
        if (name !== "AccessDeniedException") {
          const explained = explainAwsError(name, message, { region: target.region, model: entry });
          add({
            id: "permission",
            title: "Permission",
            status: "fail",
            detail: explained.detail,
            fix: explained.fix,
            evidence: { error: name, message },
          });
          break;
        }
      }
    }
    if (!checks.some((c) => c.id === "permission")) {
      if (denied.length === 0) {
        add({
          id: "permission",
          title: "Permission",
          status: "pass",
          detail: `InvokeModel and InvokeModelWithResponseStream on ${resolvedId} work (two 1-token calls).`,
        });
      } else {
        const profile = catalog.profileById(resolvedId);
        const policy = entry
          ? invokePolicy(
              account ?? "<account-id>",
              target.region,
              profile?.id,
              entry.bedrockModelId,
              profile?.geography.sourceRegions ?? [target.region],
            )
          : undefined;
        add({
          id: "permission",
          title: "Permission",
          status: "fail",
          detail: denied.join("; "),
          fix: policy
            ? `Attach this policy to the identity:\n${policy}`
            : "Allow bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream on the model.",
          evidence: { denied },
        });
      }
    }
  }
  return { target: target.name, provider: target.provider, region: target.region, checks, ready: !failed() };
}

/** Runs every check for every target of the configured chain. */
export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const settings = mergeSettings(options);
  const targets = await resolveTargets(options);
  const upstream = options.upstream ?? createUpstreamFetch();
  const reports: TargetReport[] = [];
  for (const [index, target] of targets.entries()) {
    const targetOptions = settings.targets[index] ?? {};
    const { source } = await resolveRegion(targetOptions.region, targetOptions.profile);
    reports.push(await checkTarget(target, { ...options, ...targetOptions }, upstream, source));
  }
  const summary = reports.map((r) => {
    const failure = r.checks.find((c) => c.status === "fail");
    return r.ready
      ? `${r.target}: ready`
      : `${r.target}: ${failure?.title.toLowerCase()} - ${failure?.detail}`;
  });
  return { ok: reports.every((r) => r.ready), targets: reports, summary };
}
