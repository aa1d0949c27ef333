import { readFileSync } from 'node:fs';

/**
 * The kernel's count of OOM kills since boot (`oom_kill` in /proc/vmstat, Linux 4.13+), or undefined
 * where it cannot be read. podman on cgroups v1 never sets OOMKilled and removes the container's
 * memory cgroup with it, so an unchanged count across a run is what tells an outside `kill` (exit
 * 137 too) from the OOM killer.
 */
export function oomKillCount(): number | undefined {
  try {
    const match = /^oom_kill (\d+)$/m.exec(readFileSync('/proc/vmstat', 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    // Not Linux (or /proc not mounted): no evidence either way.
    return undefined;
  }
}
