import { isIP } from 'node:net';
import { homedir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import type { Config } from '../config.ts';
import { ConfigError, type Field, int, MINUTE, num, oneOf, optional, str, timeZone } from './parse.ts';

/** Settings of containers, mounts, events and schedules. */
export const containerFields = [
  {
    key: 'egressResolve',
    env: 'BERTH_EGRESS_RESOLVE',
    parse: (raw) => {
      const out: Record<string, string> = {};
      for (const entry of (raw ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const m = /^([^=\s]+)=([0-9a-fA-F:.]+)$/.exec(entry);
        if (!m || isIP(m[2]!) === 0)
          throw new ConfigError(`BERTH_EGRESS_RESOLVE entry "${entry}" must be name=IP-address`);
        out[m[1]!.toLowerCase()] = m[2]!;
      }
      return out;
    },
    doc: 'Pins egress host names to addresses (`name=IP`, comma-separated), like curl --resolve; pinned addresses may be internal.',
  },
  {
    key: 'credentialsFile',
    env: 'BERTH_CREDENTIALS_FILE',
    parse: optional,
    doc: 'JSON file with `apiKey` or `oauthToken`, re-read when it changes.',
  },
  {
    key: 'anthropicApiKey',
    env: 'ANTHROPIC_API_KEY',
    parse: optional,
    doc: 'Real API key (never given to containers).',
  },
  {
    key: 'claudeCodeOauthToken',
    env: 'CLAUDE_CODE_OAUTH_TOKEN',
    parse: optional,
    doc: 'Real OAuth token (never given to containers).',
  },
  {
    key: 'mountAllowlist',
    env: 'BERTH_MOUNT_ALLOWLIST',
    parse: (raw, env) =>
      path.resolve(raw || path.join(env.HOME || homedir(), '.config/berth/mount-allowlist.json')),
    shown: '`~/.config/berth/mount-allowlist.json`',
    doc: 'Allowlist for extra mounts; missing file means no extra mounts.',
  },
  {
    key: 'projectRoot',
    env: 'BERTH_PROJECT_ROOT',
    parse: (raw) => path.resolve(raw || process.cwd()),
    shown: 'the working directory',
    doc: 'Mounted read-only at /workspace/project for admin groups.',
  },
  {
    key: 'installId',
    env: 'BERTH_INSTALL_ID',
    parse: (raw, _env) => {
      if (raw === undefined || raw === '') return undefined;
      if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(raw))
        throw new ConfigError(`BERTH_INSTALL_ID must match ^[a-z0-9][a-z0-9-]{0,62}$, got "${raw}"`);
      return raw;
    },
    doc: 'Label value that marks this installation’s containers; unset derives one from DATABASE_URL (or the data dir), so instances sharing a database share it.',
  },
  {
    key: 'leaseMs',
    env: 'BERTH_LEASE_MS',
    parse: int(30_000, 1000, 60 * MINUTE),
    doc: 'Session ownership lease; another instance takes over after it lapses.',
  },
  {
    key: 'reconcileIntervalMs',
    env: 'BERTH_RECONCILE_INTERVAL_MS',
    parse: int(30_000, 200, 60 * MINUTE),
    doc: 'How often containers and sessions are reconciled.',
  },
  {
    key: 'dbTimeoutMs',
    env: 'BERTH_DB_TIMEOUT_MS',
    parse: int(5_000, 100, 10 * MINUTE),
    doc: 'How long a request waits for an unavailable database before answering 503 with Retry-After.',
  },
  {
    key: 'eventRetentionCount',
    env: 'BERTH_EVENT_RETENTION_COUNT',
    parse: int(10_000, 10, 10_000_000),
    doc: 'Events kept per session.',
  },
  {
    key: 'eventRetentionMs',
    env: 'BERTH_EVENT_RETENTION_MS',
    parse: int(7 * 24 * 60 * MINUTE, 1000, 365 * 24 * 60 * MINUTE),
    doc: 'Maximum event age.',
  },
  {
    key: 'containerMemoryMb',
    env: 'BERTH_CONTAINER_MEMORY_MB',
    parse: int(1024, 16, 1024 * 1024),
    doc: 'Memory limit per container, and the ceiling for group settings.',
  },
  {
    key: 'containerCpus',
    env: 'BERTH_CONTAINER_CPUS',
    parse: num(1, 0.05, 1024),
    doc: 'CPU limit per container, and the ceiling for group settings.',
  },
  {
    key: 'containerPids',
    env: 'BERTH_CONTAINER_PIDS',
    parse: int(256, 8, 1_000_000),
    doc: 'Process limit per container, and the ceiling for group settings.',
  },
  {
    key: 'buildTimeoutMs',
    env: 'BERTH_BUILD_TIMEOUT_MS',
    parse: int(15 * MINUTE, 1000, 24 * 60 * MINUTE),
    doc: 'Time limit for a group image build.',
  },
  {
    key: 'logLevel',
    env: 'BERTH_LOG_LEVEL',
    parse: oneOf('info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    doc: 'Log level.',
  },
  {
    key: 'logFormat',
    env: 'BERTH_LOG_FORMAT',
    parse: oneOf('auto', ['auto', 'json', 'pretty'] as const),
    doc: '`auto`: human-readable lines (pino-pretty) when stdout is a terminal, JSON lines otherwise; `json` or `pretty` force one.',
  },
  { key: 'timezone', env: 'TZ', parse: str('UTC'), doc: 'Time zone passed to agents.' },
  {
    key: 'scheduleTimezone',
    env: 'BERTH_SCHEDULE_TIMEZONE',
    parse: timeZone,
    doc: 'IANA time zone of schedules that name none; unset uses `TZ` when it is an IANA name, else UTC.',
  },
  {
    key: 'schedulePollMs',
    env: 'BERTH_SCHEDULE_POLL_MS',
    parse: int(1000, 50, MINUTE),
    doc: 'How often each instance looks for due schedule ticks.',
  },
  {
    key: 'scheduleCatchUpMs',
    env: 'BERTH_SCHEDULE_CATCH_UP_MS',
    parse: int(60 * MINUTE, 0, 7 * 24 * 60 * MINUTE),
    doc: 'A tick found this late (e.g. berth was down) still fires once; later ones are recorded as missed.',
  },
  {
    key: 'scheduleMaxFailures',
    env: 'BERTH_SCHEDULE_MAX_FAILURES',
    parse: int(3, 1, 1000),
    doc: 'A schedule whose last this many messages failed is paused.',
  },
  {
    key: 'scheduleMaxPerSession',
    env: 'BERTH_SCHEDULE_MAX_PER_SESSION',
    parse: int(50, 1, 10_000),
    doc: 'Schedules one session may have.',
  },
  {
    key: 'searchPath',
    env: 'PATH',
    parse: str('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'),
    doc: 'Where the container runtime CLI is looked up.',
    shown: 'system PATH',
  },
  {
    key: 'containerUid',
    env: 'BERTH_CONTAINER_UID',
    parse: int(2_000_000_000, 1, 4_294_967_294),
    doc: 'Uid and gid agents run as when berth is root; session folders are handed to it. The default is above login, subordinate and systemd ranges, so it is no host account.',
  },
  {
    key: 'workspaceQuotaMb',
    env: 'BERTH_WORKSPACE_QUOTA_MB',
    parse: int(2048, 1, 1024 * 1024 * 1024),
    doc: 'Disk a session folder (/workspace) may use; a run past it is stopped with reason `quota`.',
  },
  {
    key: 'diskReserveMb',
    env: 'BERTH_DISK_RESERVE_MB',
    parse: int(1024, 0, 1024 * 1024 * 1024),
    doc: 'Free space kept on the data dir’s file system (the embedded database lives there); below it, running sessions are stopped with reason `quota`.',
  },
  {
    key: 'quotaCheckMs',
    env: 'BERTH_QUOTA_CHECK_MS',
    parse: int(5000, 100, 10 * MINUTE),
    doc: 'How often running sessions’ folders and the free space are measured.',
  },
  {
    key: 'maxViewersPerSession',
    env: 'BERTH_MAX_VIEWERS_PER_SESSION',
    parse: int(64, 1, 100_000),
    doc: 'WebSocket viewers one session may have at once; more get 429.',
  },
  {
    key: 'maxViewersPerKey',
    env: 'BERTH_MAX_VIEWERS_PER_KEY',
    parse: int(128, 1, 100_000),
    doc: 'WebSocket viewers one API key may hold open at once; more get 429.',
  },
] as const satisfies readonly Field<keyof Config>[];
