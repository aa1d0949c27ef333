/**
 * The one catalogue of every error code berth answers, with its HTTP status and title. Domain errors
 * are AppErrors built from it; the HTTP layer maps them to RFC 9457 problem+json in one place, and
 * openapi.yaml's Problem `code` enum lists exactly these keys (a test compares them).
 */
export const ERROR_CATALOGUE = {
  // 400: the request is wrong.
  BAD_REQUEST: { status: 400, title: 'Bad request' },
  VALIDATION_FAILED: { status: 400, title: 'Request is invalid' },
  INVALID_JSON: { status: 400, title: 'Body is not valid JSON' },
  INVALID_CONTENT_LENGTH: { status: 400, title: 'Content-Length does not match the body' },
  INVALID_RUN_SPEC: { status: 400, title: 'Container settings are unsafe or ambiguous' },
  CURSOR_OUT_OF_RANGE: { status: 400, title: 'Cursor is past the last event' },
  FOLDER_INVALID: { status: 400, title: 'Folder name is invalid' },
  FOLDER_RESERVED: { status: 400, title: 'Folder name is reserved' },
  FOLDER_ID_INVALID: { status: 400, title: 'Id cannot be used as a directory name' },
  FOLDER_ESCAPE: { status: 400, title: 'Path leaves its base directory' },
  MOUNT_NO_ALLOWLIST: { status: 400, title: 'No mount allowlist is configured' },
  MOUNT_ALLOWLIST_INVALID: { status: 400, title: 'Mount allowlist is invalid' },
  MOUNT_BAD_REQUEST: { status: 400, title: 'Mount request is malformed' },
  MOUNT_BAD_HOST_PATH: { status: 400, title: 'Host path is invalid' },
  MOUNT_PATH_MISSING: { status: 400, title: 'Host path does not exist' },
  MOUNT_BAD_CONTAINER_PATH: { status: 400, title: 'Container path is invalid' },
  MOUNT_PROTECTED_PATH: { status: 400, title: 'Host path is protected' },
  MOUNT_BLOCKED_PATTERN: { status: 400, title: 'Host path matches a blocked pattern' },
  MOUNT_NOT_ALLOWED_ROOT: { status: 400, title: 'Host path is outside every allowed root' },
  MOUNT_RW_DENIED: { status: 400, title: 'Read-write mount is not allowed' },
  MOUNT_COLLISION: { status: 400, title: 'Mounts collide' },
  EGRESS_BAD_REQUEST: { status: 400, title: 'Egress request is malformed' },
  ENV_NAME_REFUSED: { status: 400, title: 'Environment variable name is reserved' },
  SCHEDULE_TRIGGER_INVALID: { status: 400, title: 'Give exactly one of cron, everyMs or at' },
  SCHEDULE_CRON_INVALID: { status: 400, title: 'Cron expression is invalid' },
  SCHEDULE_INTERVAL_TOO_SHORT: { status: 400, title: 'Interval is below the floor' },
  SCHEDULE_AT_PAST: { status: 400, title: 'One-off time is not in the future' },
  SCHEDULE_TIMEZONE_INVALID: { status: 400, title: 'Time zone is not an IANA name' },
  SCHEDULE_LIMIT_REACHED: { status: 400, title: 'Session has too many schedules' },
  FILE_NAME_INVALID: { status: 400, title: 'File name is invalid' },
  FILE_PATH_INVALID: { status: 400, title: 'Workspace path is invalid' },
  FILE_NAME_CLASH: { status: 400, title: 'Name differs from an existing one only by case or normalisation' },
  FILE_PATH_UNSAFE: { status: 400, title: 'Path is a symbolic link, hard link or special file' },
  FILE_IS_DIRECTORY: { status: 400, title: 'Path is a directory, not a file' },
  FILE_NOT_DIRECTORY: { status: 400, title: 'Path is not a directory' },
  ATTACHMENT_INVALID: { status: 400, title: 'Attachment is invalid' },
  // 401, 403, 404, 409, 413, 415, 422, 426, 429: who, what, and in which state.
  UNAUTHORIZED: { status: 401, title: 'Missing or invalid API token' },
  KEY_EXPIRED: { status: 401, title: 'API key has expired' },
  FORBIDDEN: { status: 403, title: "The key's role does not allow this operation" },
  EGRESS_DENIED: { status: 403, title: 'Egress denied by network policy' },
  MODEL_NOT_ALLOWED: { status: 403, title: "Model is not on the group's model allowlist" },
  ROUTE_NOT_FOUND: { status: 404, title: 'No such route' },
  GROUP_NOT_FOUND: { status: 404, title: 'Group not found' },
  SESSION_NOT_FOUND: { status: 404, title: 'Session not found' },
  MESSAGE_NOT_FOUND: { status: 404, title: 'Message not found' },
  IMAGE_BUILD_NOT_FOUND: { status: 404, title: 'Image build not found' },
  KEY_NOT_FOUND: { status: 404, title: 'API key not found' },
  SCHEDULE_NOT_FOUND: { status: 404, title: 'Schedule not found' },
  DOCS_ASSET_NOT_FOUND: { status: 404, title: 'No such documentation asset' },
  FILE_NOT_FOUND: { status: 404, title: 'File not found' },
  WORKSPACE_PATH_NOT_FOUND: { status: 404, title: 'Workspace path not found' },
  GROUP_FOLDER_TAKEN: { status: 409, title: 'Folder is taken' },
  SESSION_EXTERNAL_KEY_TAKEN: { status: 409, title: 'External key is taken' },
  IMAGE_BUILD_IN_PROGRESS: { status: 409, title: 'An image build is in progress' },
  IMAGE_BUILD_FINISHED: { status: 409, title: 'Image build has finished' },
  SCHEDULE_COMPLETED: { status: 409, title: 'One-off schedule has fired' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Body is too large' },
  FILE_TOO_LARGE: { status: 413, title: 'File is larger than the limit' },
  RANGE_NOT_SATISFIABLE: { status: 416, title: 'Range is not satisfiable' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'Idempotency key reused with a different body' },
  TOO_MANY_VIEWERS: { status: 429, title: 'Too many viewers' },
  MOUNT_INSIDE_WRITABLE: { status: 400, title: 'Extra mount lies inside a writable allowed root' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  UPGRADE_REQUIRED: { status: 426, title: 'WebSocket upgrade required' },
  // 429: a limit the operator set was reached.
  MODEL_CAP_EXCEEDED: { status: 429, title: 'Model usage cap reached' },
  // 500: berth's own state is wrong.
  INTERNAL: { status: 500, title: 'Internal error' },
  CONFIG_INVALID: { status: 500, title: 'Configuration is invalid' },
  CREDENTIALS_INVALID: { status: 500, title: 'Model credentials are invalid' },
  FOLDER_UNSAFE: { status: 500, title: 'A data directory entry is unsafe' },
  MOUNT_PROJECT_MISSING: { status: 500, title: 'Project root is missing' },
  MOUNT_PROJECT_PROTECTED: { status: 500, title: 'Project root holds a protected path' },
  MOUNT_PROJECT_UNCHECKED: { status: 500, title: 'Project tree is too large to check for secrets' },
  PROXY_BIND_UNSAFE: { status: 500, title: 'Proxy bind address is unsafe' },
  PROXY_LISTEN_FAILED: { status: 500, title: 'Proxy could not listen' },
  PROXY_SOCKET_FAILED: { status: 500, title: 'Proxy socket could not be opened' },
  RUNTIME_COMMAND_FAILED: { status: 500, title: 'Container runtime command failed' },
  // 502: a host beyond berth failed.
  EGRESS_UNREACHABLE: { status: 502, title: 'Egress destination unreachable' },
  // 503: a dependency is not there yet; retry later.
  SHUTTING_DOWN: { status: 503, title: 'berth is shutting down' },
  DATABASE_UNAVAILABLE: { status: 503, title: 'Database is unavailable' },
  RUNTIME_UNAVAILABLE: { status: 503, title: 'No container runtime' },
  PROXY_UNAVAILABLE: { status: 503, title: 'Credential proxy is not running' },
  MODEL_GATE_UNAVAILABLE: { status: 503, title: 'Model caps could not be checked' },
  IMAGE_MISSING: { status: 503, title: 'Agent image is missing' },
  IMAGE_BUILDING: { status: 503, title: 'Agent image is being built' },
  DISK_LOW: { status: 503, title: 'The data directory is low on disk space' },
  IMAGE_UNAVAILABLE: { status: 503, title: 'Base agent image is missing' },
  MODEL_CREDENTIAL_MISSING: { status: 503, title: 'No model credential is configured' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export interface ErrorItem {
  path: string;
  message: string;
  code?: string;
}

export class AppError extends Error {
  override name = 'AppError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.status = ERROR_CATALOGUE[code].status;
  }
}

const NOT_FOUND = {
  group: 'GROUP_NOT_FOUND',
  session: 'SESSION_NOT_FOUND',
  message: 'MESSAGE_NOT_FOUND',
  'image build': 'IMAGE_BUILD_NOT_FOUND',
  key: 'KEY_NOT_FOUND',
  schedule: 'SCHEDULE_NOT_FOUND',
} as const satisfies Record<string, ErrorCode>;

export class NotFoundError extends AppError {
  constructor(resource: keyof typeof NOT_FOUND, id: string) {
    super(NOT_FOUND[resource], `${resource} ${id} does not exist`);
  }
}

export class ValidationError extends AppError {
  constructor(message: string, errors: ErrorItem[] = []) {
    super('VALIDATION_FAILED', message, { errors });
  }
}

/** The database is out of reach or out of room; the client may retry after `retryAfterSeconds`. */
export class DatabaseUnavailableError extends AppError {
  constructor(message: string, retryAfterSeconds = 2) {
    super('DATABASE_UNAVAILABLE', message, { retryAfter: retryAfterSeconds });
  }
}
