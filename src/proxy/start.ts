import type { Config, RuntimeName } from '../config.ts';
import type { Logger } from '../logger.ts';
import { detectHostFacts, type ProxyBindPlan, planProxyBind, socketCapable } from './bind-plan.ts';
import { type CredentialProxy, createCredentialProxy } from './credential-proxy.ts';
import type { CredentialSource } from './credentials.ts';
import { createEgressProxy, type EgressProxy, type EgressProxyOptions } from './egress-proxy.ts';
import type { ModelGate } from './model-gate.ts';

export interface StartedProxy {
  proxy?: CredentialProxy;
  plan?: ProxyBindPlan;
  /** Why there is no proxy, for readiness and wake errors. */
  problem?: string;
  /** `socket`: containers run without a network and reach the proxies over per-run Unix sockets. */
  transport: 'socket' | 'tcp';
  egress?: EgressProxy;
}

/** Plans where containers can reach the proxy for this runtime and starts it there; a failure is reported, not thrown. */
export async function startProxyFor(
  runtime: { name: RuntimeName; bridgeGateway(): Promise<string | undefined> },
  config: Config,
  credentials: CredentialSource,
  log: Logger,
  onEgress: EgressProxyOptions['onRecord'],
  gate: ModelGate,
): Promise<StartedProxy> {
  let transport: StartedProxy['transport'] = 'tcp';
  try {
    const bridgeGateway = await runtime.bridgeGateway().catch((err: Error) => {
      log.debug({ err: err.message }, 'no bridge gateway; planning without one');
      return undefined;
    });
    const facts = detectHostFacts({
      runtime: runtime.name,
      ...(config.proxyHost ? { override: config.proxyHost } : {}),
      ...(bridgeGateway ? { bridgeGateway } : {}),
    });
    transport = socketCapable(facts) ? 'socket' : 'tcp';
    const plan = planProxyBind(facts);
    const proxy = await createCredentialProxy({
      host: plan.bindHost,
      port: config.proxyPort,
      upstream: config.proxyUpstream,
      maxBodyBytes: config.proxyMaxBodyBytes,
      credentials,
      gate,
      log,
    });
    log.info({ address: proxy.address, transport }, 'credential proxy listening');
    if (transport === 'tcp') {
      log.warn(
        { runtime: runtime.name },
        'network policy NOT enforced: containers of this runtime run in a VM and use its normal network',
      );
      return { proxy, plan, transport };
    }
    const egress = createEgressProxy({ pinned: config.egressResolve, onRecord: onEgress });
    return { proxy, plan, transport, egress };
  } catch (err) {
    const problem = (err as Error).message;
    log.warn({ problem }, 'credential proxy not started');
    return { problem, transport };
  }
}
