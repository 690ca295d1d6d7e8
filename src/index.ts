/** bedrock-claude: Claude on AWS Bedrock in production. */
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
export { ModelCatalog, type ModelEntry, shippedCatalog } from "./models/catalog.js";
