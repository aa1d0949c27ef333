import process from 'node:process';
import type { Config } from '../../config.ts';
import type { NameRules } from '../../files/names.ts';
import type { Owner } from '../../files/workspace.ts';
import { ensureDir, sessionDir, sessionsBase } from '../../mounts/folders.ts';
import { diskUsage } from '../../sessions/quota.ts';

/** Who files written for the agent belong to: the container uid when berth is root (as the launcher does). */
export function agentOwner(config: Config): Owner | undefined {
  return process.getuid?.() === 0 ? { uid: config.containerUid, gid: config.containerUid } : undefined;
}

export function nameRules(config: Config): NameRules {
  return { allowDotfiles: config.filesAllowDotfiles };
}

/** The session folder (/workspace), created like a wake creates it, for writes. */
export function ensureSessionFolder(
  config: Config,
  session: { groupId: string; id: string },
): Promise<string> {
  return ensureDir(
    sessionsBase(config.dataDir),
    sessionDir(config.dataDir, session.groupId, session.id),
    agentOwner(config),
  );
}

/** Bytes the session folder may still take under BERTH_WORKSPACE_QUOTA_MB. */
export async function workspaceRoom(config: Config, root: string): Promise<number> {
  const quota = config.workspaceQuotaMb * 1024 * 1024;
  return Math.max(0, quota - (await diskUsage(root, quota)));
}
