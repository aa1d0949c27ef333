import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  date,
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
    lastExitReason: text({ enum: ['exited', 'idle', 'timeout', 'oom', 'aborted', 'spawn_error', 'lost'] }),
    messageSeq: bigint({ mode: 'number' }).notNull().default(0),
    eventSeq: bigint({ mode: 'number' }).notNull().default(0),
    proxyRequests: bigint({ mode: 'number' }).notNull().default(0),
    proxyBytesIn: bigint({ mode: 'number' }).notNull().default(0),
    proxyBytesOut: bigint({ mode: 'number' }).notNull().default(0),
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
    kind: text({ enum: ['log', 'output', 'lifecycle'] }).notNull(),
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
    reason: text({ enum: ['exited', 'idle', 'timeout', 'oom', 'aborted', 'spawn_error', 'lost'] }),
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
export type RunRow = typeof runs.$inferSelect;
export type ImageBuildRow = typeof imageBuilds.$inferSelect;
