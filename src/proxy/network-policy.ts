import { type HostRule, parseHostRule, parseHostRules } from '../config/host-rules.ts';
import { CONTAINER_SOCKET_DIR } from './run-sockets.ts';

/** none: only the model, through the credential proxy. allowlist: plus listed hosts through the egress proxy. open: the runtime's bridge. */
export type NetworkPolicyName = 'none' | 'allowlist' | 'open';
export const NETWORK_POLICIES: readonly NetworkPolicyName[] = ['none', 'allowlist', 'open'];

/** A group's `containerConfig.network`. */
export interface GroupNetwork {
  policy?: NetworkPolicyName;
  /** Narrows the operator's allowlist; never widens it. */
  allow?: string[];
}

export interface NetworkDefaults {
  policy: NetworkPolicyName;
  /** The operator's global allowlist (BERTH_EGRESS_ALLOWLIST). */
  allow: readonly string[];
}

export interface EffectiveNetwork {
  policy: NetworkPolicyName;
  /** Every list must allow a destination. */
  lists: HostRule[][];
}

/** Ports inside the container where the runner relays to the mounted proxy sockets. */
export const MODEL_PORT = 4180;
export const EGRESS_PORT = 3128;

export function effectiveNetwork(
  defaults: NetworkDefaults,
  group: GroupNetwork | undefined,
): EffectiveNetwork {
  const policy = group?.policy ?? defaults.policy;
  const lists = [parseHostRules(defaults.allow)];
  if (group?.allow) lists.push(parseHostRules(group.allow));
  return { policy, lists };
}

/** Problems with a group's network settings, as (JSON pointer suffix, message) pairs. */
export function checkGroupNetwork(
  trust: 'admin' | 'member',
  network: GroupNetwork | undefined,
): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  if (network?.policy === 'open' && trust !== 'admin')
    problems.push({ path: 'policy', message: 'policy "open" needs an admin group' });
  for (const [i, entry] of (network?.allow ?? []).entries()) {
    const rule = parseHostRule(entry);
    if (typeof rule === 'string') problems.push({ path: `allow/${i}`, message: rule });
  }
  return problems;
}

/** The container's environment for a policy, given the runner's relays. */
export function networkEnv(policy: NetworkPolicyName): Record<string, string> {
  const env: Record<string, string> = {
    ANTHROPIC_BASE_URL: `http://127.0.0.1:${MODEL_PORT}`,
    BERTH_FORWARD: `${MODEL_PORT}=${CONTAINER_SOCKET_DIR}/model.sock`,
    BERTH_NETWORK_POLICY: policy,
  };
  if (policy !== 'allowlist') return env;
  const proxy = `http://127.0.0.1:${EGRESS_PORT}`;
  // Both spellings: curl reads lower case, many others upper case.
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) env[name] = proxy;
  env.NO_PROXY = 'localhost,127.0.0.1,::1';
  env.no_proxy = env.NO_PROXY;
  env.BERTH_FORWARD += `,${EGRESS_PORT}=${CONTAINER_SOCKET_DIR}/egress.sock`;
  return env;
}
