import type { Owner } from './folders.ts';

export type Trust = 'admin' | 'member';

export interface ExtraMountRequest {
  hostPath: string;
  containerPath?: string;
  readonly?: boolean;
}

/** `secret-shadow` hides a project path with a blocked name; `protected-shadow` hides the data dir, the allowlist or another protected path found inside the project. */
export type MountSource =
  | 'session'
  | 'group'
  | 'global'
  | 'project'
  | 'secret-shadow'
  | 'protected-shadow'
  | 'extra';

export interface PlannedMount {
  hostPath: string;
  containerPath: string;
  readonly: boolean;
  source: MountSource;
}

export type MountRefusalCode =
  | 'MOUNT_NO_ALLOWLIST'
  | 'MOUNT_ALLOWLIST_INVALID'
  | 'MOUNT_BAD_REQUEST'
  | 'MOUNT_BAD_HOST_PATH'
  | 'MOUNT_PATH_MISSING'
  | 'MOUNT_BAD_CONTAINER_PATH'
  | 'MOUNT_PROTECTED_PATH'
  | 'MOUNT_BLOCKED_PATTERN'
  | 'MOUNT_NOT_ALLOWED_ROOT'
  | 'MOUNT_RW_DENIED'
  | 'MOUNT_COLLISION'
  | 'MOUNT_INSIDE_WRITABLE';

export interface MountRefusal {
  /** Index of the request in the list that was checked. */
  index: number;
  hostPath: string;
  containerPath?: string;
  code: MountRefusalCode;
  reason: string;
}

export interface CheckContext {
  trust: Trust;
  allowlistPath: string;
  dataDir: string;
  homeDir: string;
  /** Further host paths no extra mount may equal, sit inside or contain (e.g. the credentials file). */
  protectedPaths?: string[];
  /** Refuse paths strictly inside a read-write allowed root (a container could swap them before the runtime mounts). */
  refuseInsideWritable?: boolean;
}

export interface PlanContext extends CheckContext {
  groupFolder: string;
  groupId: string;
  sessionId: string;
  projectRoot: string;
  extra: ExtraMountRequest[];
  /** Container user; directories are chowned to it when berth runs as root. */
  owner?: Owner;
}

export interface CheckResult {
  accepted: PlannedMount[];
  refused: MountRefusal[];
}

export interface MountPlan {
  mounts: PlannedMount[];
  refused: MountRefusal[];
}

export const WORKSPACE = '/workspace';
export const EXTRA_MOUNT_BASE = '/workspace/extra';
