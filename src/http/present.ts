import type {
  EventRow,
  GroupRow,
  ImageBuildRow,
  MessageRow,
  ScheduleRow,
  SessionRow,
} from '../store/schema.ts';

// Rows become API objects here, and only here, so the contract has one translation.
const presentModelUsage = (r: GroupRow | SessionRow) => ({
  requests: r.modelRequests,
  inputTokens: r.inputTokens,
  outputTokens: r.outputTokens,
  cacheCreationInputTokens: r.cacheCreationTokens,
  cacheReadInputTokens: r.cacheReadTokens,
  costUsd: r.costMicroUsd / 1e6,
});

export const presentGroup = (g: GroupRow) => ({
  id: g.id,
  name: g.name,
  folder: g.folder,
  trust: g.trust,
  containerConfig: g.containerConfig,
  modelUsage: presentModelUsage(g),
  createdAt: g.createdAt.toISOString(),
  updatedAt: g.updatedAt.toISOString(),
});

export const presentSession = (s: SessionRow) => ({
  id: s.id,
  groupId: s.groupId,
  externalKey: s.externalKey,
  status: s.status,
  generation: s.generation,
  containerName: s.containerName,
  lastActivityAt: s.lastActivityAt?.toISOString() ?? null,
  lastExit: s.lastExitReason ? { code: s.lastExitCode, reason: s.lastExitReason } : null,
  proxyUsage: { requests: s.proxyRequests, bytesIn: s.proxyBytesIn, bytesOut: s.proxyBytesOut },
  agentUsage: {
    turns: s.agentTurns,
    inputTokens: s.agentInputTokens,
    outputTokens: s.agentOutputTokens,
    cacheReadTokens: s.agentCacheReadTokens,
    cacheCreationTokens: s.agentCacheCreationTokens,
    costUsd: s.agentCostUsd,
  },
  modelUsage: presentModelUsage(s),
  createdAt: s.createdAt.toISOString(),
  updatedAt: s.updatedAt.toISOString(),
});

export const presentMessage = (m: MessageRow) => ({
  id: m.id,
  sessionId: m.sessionId,
  seq: m.seq,
  text: m.body,
  status: m.status,
  attempts: m.attempts,
  error: m.error,
  idempotencyKey: m.idempotencyKey,
  createdAt: m.createdAt.toISOString(),
  updatedAt: m.updatedAt.toISOString(),
});

export const presentEvent = (e: EventRow) => ({
  seq: e.seq,
  kind: e.kind,
  stream: e.stream,
  generation: e.generation,
  time: e.time.toISOString(),
  data: e.data,
});

export const presentImageBuild = (b: ImageBuildRow, now = new Date()) => ({
  id: b.id,
  groupId: b.groupId,
  status: b.status,
  tag: b.tag,
  packages: b.packages,
  reused: b.reused,
  error: b.error,
  outputTail: b.outputTail,
  durationMs: b.startedAt ? (b.finishedAt ?? now).getTime() - b.startedAt.getTime() : null,
  createdAt: b.createdAt.toISOString(),
  startedAt: b.startedAt?.toISOString() ?? null,
  finishedAt: b.finishedAt?.toISOString() ?? null,
});

export const presentSchedule = (s: ScheduleRow) => ({
  id: s.id,
  sessionId: s.sessionId,
  groupId: s.groupId,
  text: s.text,
  cron: s.cron,
  everyMs: s.everyMs,
  at: s.at?.toISOString() ?? null,
  timezone: s.timezone,
  status: s.status,
  pausedReason: s.pausedReason,
  nextRunAt: s.nextRunAt?.toISOString() ?? null,
  lastRunAt: s.lastRunAt?.toISOString() ?? null,
  lastMessageId: s.lastMessageId,
  runCount: s.runCount,
  createdAt: s.createdAt.toISOString(),
  updatedAt: s.updatedAt.toISOString(),
});
