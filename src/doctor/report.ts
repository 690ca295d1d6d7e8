/** The doctor's report: one entry per check, in order, each with status, evidence and fix. */
export type CheckStatus = "pass" | "warn" | "fail" | "skip";

export interface CheckResult {
  /** Stable id: `config`, `credentials`, `identity`, `reachability`, `clock`, `model`, `access`, `permission`. */
  id: string;
  title: string;
  status: CheckStatus;
  /** What was found, in plain words. */
  detail: string;
  /** What to do: a command, a setting, or a policy to paste. */
  fix?: string;
  /** Facts behind the verdict (source, ARNs, error names, request ids). */
  evidence?: Record<string, unknown>;
}

export interface TargetReport {
  target: string;
  provider: string;
  region: string;
  checks: CheckResult[];
  /** True when no check failed. */
  ready: boolean;
}

export interface DoctorReport {
  ok: boolean;
  targets: TargetReport[];
  /** One line per target: ready or the first failure. */
  summary: string[];
}
