/** Mount security: allowlist loading, extra-mount validation and the per-run mount plan. */
export { type AllowedRoot, type Allowlist, type AllowlistResult, loadAllowlist } from './allowlist.ts';
export { checkExtraMounts } from './check.ts';
export { agentStateDir } from './folders.ts';
export { BUILTIN_BLOCKED_PATTERNS } from './patterns.ts';
export { MountPlanError, planMounts } from './plan.ts';
export type {
  CheckContext,
  CheckResult,
  ExtraMountRequest,
  MountPlan,
  MountRefusal,
  MountRefusalCode,
  MountSource,
  PlanContext,
  PlannedMount,
  Trust,
} from './types.ts';
export { EXTRA_MOUNT_BASE, WORKSPACE } from './types.ts';
