import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  date,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

const now = () => timestamp({ withTimezone: true, mode: 'date' }).notNull().defaultNow();

export interface ExtraMount {
  hostPath: string;
  containerPath?: string;
  readonly: boolean;
}

export interface ContainerConfig {
  image?: string;
  mounts?: ExtraMount[];
  env?: Record<string, string>;
  idleTimeoutMs?: number;
  hardTimeoutMs?: number;
  memoryMb?: number;
  cpus?: number;
  pids?: number;
  /** Network policy; absent fields take the operator's defaults. */
  network?: { policy?: 'none' | 'allowlist' | 'open'; allow?: string[] };
  /** Agent settings for the claude mode (see src/protocol/agent-config.ts). */
  allowedTools?: string[];
  disallowedTools?: string[];
  model?: string;
  systemPromptSuffix?: string;
  maxTurns?: number;
  mcpServers?: Record<string, { command: string; args?: string[]; env?: Record<string, string> }>;
  /** Model allowlist and caps, enforced by the credential proxy. */
  models?: { allow?: string[]; tokensPerDay?: number; requestsPerMinute?: number };
}

/** Metered model usage: Messages API responses, their tokens and estimated cost (micro-USD). */
const modelUsage = () => ({
  modelRequests: bigint({ mode: 'number' }).notNull().default(0),
  inputTokens: bigint({ mode: 'number' }).notNull().default(0),
  outputTokens: bigint({ mode: 'number' }).notNull().default(0),
  cacheCreationTokens: bigint({ mode: 'number' }).notNull().default(0),
  cacheReadTokens: bigint({ mode: 'number' }).notNull().default(0),
  costMicroUsd: bigint({ mode: 'number' }).notNull().default(0),
});

export const groups = pgTable('groups', {
  id: text().primaryKey(),
  name: text().notNull(),
  folder: text().notNull().unique(),
  trust: text({ enum: ['admin', 'member'] }).notNull(),
  containerConfig: jsonb().$type<ContainerConfig>().notNull().default({}),
  ...modelUsage(),
  createdAt: now(),
  updatedAt: now(),
});

export const sessions = pgTable(
  'sessions',
  {
    id: text().primaryKey(),
    groupId: text()
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    externalKey: text(),
    status: text({ enum: ['idle', 'starting', 'running', 'stopping', 'failed'] })
      .notNull()
      .default('idle'),
    generation: integer().notNull().default(0),
    containerName: text(),
    ownerInstance: text(),
    leaseExpiresAt: timestamp({ withTimezone: true, mode: 'date' }),
    lastActivityAt: timestamp({ withTimezone: true, mode: 'date' }),
    lastExitCode: integer(),
    lastExitReason: text({
      enum: ['exited', 'idle', 'timeout', 'oom', 'aborted', 'spawn_error', 'lost', 'quota'],
    }),
    messageSeq: bigint({ mode: 'number' }).notNull().default(0),
    eventSeq: bigint({ mode: 'number' }).notNull().default(0),
    proxyRequests: bigint({ mode: 'number' }).notNull().default(0),
    proxyBytesIn: bigint({ mode: 'number' }).notNull().default(0),
    proxyBytesOut: bigint({ mode: 'number' }).notNull().default(0),
    agentInputTokens: bigint({ mode: 'number' }).notNull().default(0),
    agentOutputTokens: bigint({ mode: 'number' }).notNull().default(0),
    agentCacheReadTokens: bigint({ mode: 'number' }).notNull().default(0),
    agentCacheCreationTokens: bigint({ mode: 'number' }).notNull().default(0),
    agentCostUsd: doublePrecision().notNull().default(0),
    agentTurns: integer().notNull().default(0),
    ...modelUsage(),
    createdAt: now(),
    updatedAt: now(),
  },
  (t) => [
    uniqueIndex('sessions_group_external_key').on(t.groupId, t.externalKey),
    index('sessions_group_created').on(t.groupId, t.createdAt, t.id),
  ],
);

export const messages = pgTable(
  'messages',
  {
    id: text().primaryKey(),
    sessionId: text()
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    seq: bigint({ mode: 'number' }).notNull(),
    idempotencyKey: text(),
    /** sha256 of the request body, so a reused Idempotency-Key with another body is refused. */
    requestHash: text(),
    body: text().notNull(),
    status: text({ enum: ['pending', 'delivered', 'done', 'failed'] })
      .notNull()
      .default('pending'),
    attempts: integer().notNull().default(0),
    deliveredGeneration: integer(),
    error: text(),
    createdAt: now(),
    updatedAt: now(),
  },
  (t) => [
    uniqueIndex('messages_session_seq').on(t.sessionId, t.seq),
    uniqueIndex('messages_session_idempotency').on(t.sessionId, t.idempotencyKey),
    index('messages_session_status').on(t.sessionId, t.status, t.seq),
  ],
);

export const events = pgTable(
  'events',
  {
    sessionId: text()
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    seq: bigint({ mode: 'number' }).notNull(),
    kind: text({ enum: ['log', 'output', 'lifecycle', 'tool', 'usage'] }).notNull(),
    stream: text(),
    generation: integer(),
    data: jsonb().$type<Record<string, unknown>>().notNull(),
    time: now(),
  },
  (t) => [primaryKey({ columns: [t.sessionId, t.seq] }), index('events_time').on(t.time)],
);

export const runs = pgTable(
  'runs',
  {
    id: bigserial({ mode: 'number' }).primaryKey(),
    sessionId: text()
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    generation: integer().notNull(),
    containerName: text().notNull(),
    image: text().notNull(),
    instanceId: text().notNull(),
    startedAt: now(),
    endedAt: timestamp({ withTimezone: true, mode: 'date' }),
    exitCode: integer(),
    reason: text({ enum: ['exited', 'idle', 'timeout', 'oom', 'aborted', 'spawn_error', 'lost', 'quota'] }),
    stdoutBytes: bigint({ mode: 'number' }).notNull().default(0),
    stderrBytes: bigint({ mode: 'number' }).notNull().default(0),
  },
  (t) => [uniqueIndex('runs_session_generation').on(t.sessionId, t.generation)],
);

export interface ImagePackages {
  apt: string[];
  npm: string[];
}

export const imageBuilds = pgTable(
  'image_builds',
  {
    id: text().primaryKey(),
    groupId: text()
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    status: text({ enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] })
      .notNull()
      .default('queued'),
    tag: text().notNull(),
    packages: jsonb().$type<ImagePackages>().notNull(),
    /** True when an identical image already existed and nothing was built. */
    reused: boolean().notNull().default(false),
    ownerInstance: text().notNull(),
    error: text(),
    outputTail: text().notNull().default(''),
    createdAt: now(),
    startedAt: timestamp({ withTimezone: true, mode: 'date' }),
    finishedAt: timestamp({ withTimezone: true, mode: 'date' }),
  },
  (t) => [
    // One build in flight per group, enforced by the database across instances.
    uniqueIndex('image_builds_one_active').on(t.groupId).where(sql`${t.status} in ('queued', 'running')`),
    index('image_builds_group_created').on(t.groupId, t.createdAt),
  ],
);

export const apiKeys = pgTable('api_keys', {
  id: text().primaryKey(),
  name: text().notNull(),
  role: text({ enum: ['admin', 'operator', 'viewer'] }).notNull(),
  /** Null: every group. Ids of deleted groups may linger; they are never reused. */
  groupIds: text().array(),
  /** HMAC-SHA256 of the secret under the data dir's pepper; the secret itself is never stored. */
  secretHash: text().notNull(),
  /** The key id that created it, or `bootstrap`. */
  createdBy: text().notNull(),
  createdAt: now(),
  lastUsedAt: timestamp({ withTimezone: true, mode: 'date' }),
  expiresAt: timestamp({ withTimezone: true, mode: 'date' }),
});

export const auditLog = pgTable(
  'audit_log',
  {
    id: text().primaryKey(),
    time: now(),
    actor: text().notNull(),
    action: text({ enum: ['key.create', 'key.revoke'] }).notNull(),
    keyId: text().notNull(),
    detail: jsonb().$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [index('audit_log_key').on(t.keyId)],
);

/** Scheduled messages: a cron, an interval or a one-off time; `nextRunAt` is the tick to claim next. */
export const schedules = pgTable(
  'schedules',
  {
    id: text().primaryKey(),
    sessionId: text()
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    // A session never changes group: kept here so listing a group's schedules needs no join.
    groupId: text().notNull(),
    text: text().notNull(),
    cron: text(),
    everyMs: bigint({ mode: 'number' }),
    at: timestamp({ withTimezone: true, mode: 'date' }),
    timezone: text().notNull(),
    status: text({ enum: ['active', 'paused', 'completed'] })
      .notNull()
      .default('active'),
    pausedReason: text({ enum: ['requested', 'failures'] }),
    nextRunAt: timestamp({ withTimezone: true, mode: 'date' }),
    lastRunAt: timestamp({ withTimezone: true, mode: 'date' }),
    lastMessageId: text(),
    runCount: integer().notNull().default(0),
    /** Failed firings are counted from here (creation or the last resume). */
    failuresSince: now(),
    createdAt: now(),
    updatedAt: now(),
  },
  (t) => [
    index('schedules_due').on(t.nextRunAt).where(sql`${t.status} = 'active'`),
    index('schedules_session').on(t.sessionId, t.id),
    index('schedules_group').on(t.groupId, t.id),
  ],
);

/** A group's model usage per UTC day: what its tokensPerDay cap is checked against. */
export const modelUsageDays = pgTable(
  'model_usage_days',
  {
    groupId: text()
      .notNull()
      .references(() => groups.id, { onDelete: 'cascade' }),
    day: date({ mode: 'string' }).notNull(),
    tokens: bigint({ mode: 'number' }).notNull().default(0),
    requests: bigint({ mode: 'number' }).notNull().default(0),
    costMicroUsd: bigint({ mode: 'number' }).notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.groupId, t.day] })],
);

export type GroupRow = typeof groups.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type MessageRow = typeof messages.$inferSelect;
export type EventRow = typeof events.$inferSelect;
export type ImageBuildRow = typeof imageBuilds.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type AuditRow = typeof auditLog.$inferSelect;
export type ScheduleRow = typeof schedules.$inferSelect;
export { type FileRow, files } from './schema-files.ts';
