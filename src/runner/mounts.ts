/** Mount security: allowlist loading, extra-mount validation and the per-run mount plan. */
export { type AllowedRoot, type Allowlist, type AllowlistResult, loadAllowlist } from './mounts/allowlist.ts';
export { checkExtraMounts } from './mounts/check.ts';
export { BUILTIN_BLOCKED_PATTERNS } from './mounts/patterns.ts';
export { MountPlanError, planMounts } from './mounts/plan.ts';
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
} from './mounts/types.ts';
export { EXTRA_MOUNT_BASE, WORKSPACE } from './mounts/types.ts';
