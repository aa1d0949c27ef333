import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from '../config.ts';

export interface Identities {
  installId: string;
  instanceId: string;
  hostKey: string;
}

const shortHash = (text: string, len: number) =>
  createHash('sha256').update(text).digest('hex').slice(0, len);

/**
 * Instances sharing one database share an install id (and so see each other's containers); an
 * instance id starts with a key of this host and data dir, so a restarted process recognises
 * its predecessor's runs as dead without waiting for their leases.
 */
export function identities(config: Config): Identities {
  const installId =
    config.installId ?? shortHash(config.databaseUrl ?? `${hostname()}:${config.dataDir}`, 12);
  const hostKey = shortHash(`${hostname()}:${config.dataDir}`, 10);
  return { installId, hostKey, instanceId: `${hostKey}-${randomBytes(4).toString('hex')}` };
}

/** Whether an instance id is an earlier process of this host and data dir. */
export const isPredecessorOf =
  ({ hostKey, instanceId }: Identities) =>
  (id: string): boolean =>
    id.startsWith(`${hostKey}-`) && id !== instanceId;
