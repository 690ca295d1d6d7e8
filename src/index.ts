/** bedrock-claude: Claude on AWS Bedrock in production. */

export { type CreateClientOptions, createBedrockFetch, createClient, resolveTargets } from "./client.js";
export type { CheckResult, CheckStatus, DoctorReport, TargetReport } from "./doctor/report.js";
export { type DoctorOptions, runDoctor } from "./doctor/run.js";
export {
  DEFAULT_ANTHROPIC_API_KEY,
  DEFAULT_API_KEY,
  type EmulatorConfigInput,
  type FaultRule,
  type FaultSpec,
  parseFaultSpec,
  type RequestRecord,
  type RunningEmulator,
  type StartEmulatorOptions,
  startEmulator,
  type UsageTotals,
} from "./emulator/index.js";
export {
  type CreatedKey,
  GatewayConfigError,
  type KeyStore,
  type RunningGateway,
  SqliteKeyStore,
  type StartGatewayOptions,
  startGateway,
  type VirtualKey,
} from "./gateway/index.js";
export { ModelCatalog, type ModelEntry, shippedCatalog } from "./models/catalog.js";
export {
  availableNames,
  ModelResolutionError,
  type Provider,
  type ResolvedModel,
  type ResolveOptions,
  resolveModel,
} from "./models/resolve.js";
export type { Target, TargetOptions } from "./transport/target.js";
export { createTransport, type FetchLike, type TransportOptions } from "./transport/transport.js";
