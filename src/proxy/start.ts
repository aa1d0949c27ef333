import type { Config, RuntimeName } from '../config.ts';
import { detectHostFacts, type ProxyBindPlan, planProxyBind } from './bind-plan.ts';
import { type CredentialProxy, createCredentialProxy, type ProxyLogger } from './credential-proxy.ts';
import type { CredentialSource } from './credentials.ts';

export interface StartedProxy {
  proxy?: CredentialProxy;
  plan?: ProxyBindPlan;
  /** Why there is no proxy, for readiness and wake errors. */
  problem?: string;
}

/** Plans where containers can reach the proxy for this runtime and starts it there; a failure is reported, not thrown. */
export async function startProxyFor(
  runtime: { name: RuntimeName; bridgeGateway(): Promise<string | undefined> },
  config: Config,
  credentials: CredentialSource,
  log: ProxyLogger & { info(obj: object, msg: string): void },
): Promise<StartedProxy> {
  try {
    const bridgeGateway = await runtime.bridgeGateway().catch((err: Error) => {
      log.debug({ err: err.message }, 'no bridge gateway; planning without one');
      return undefined;
    });
    const plan = planProxyBind(
      detectHostFacts({
        runtime: runtime.name,
        ...(config.proxyHost ? { override: config.proxyHost } : {}),
        ...(bridgeGateway ? { bridgeGateway } : {}),
      }),
    );
    const proxy = await createCredentialProxy({
      host: plan.bindHost,
      port: config.proxyPort,
      upstream: config.proxyUpstream,
      maxBodyBytes: config.proxyMaxBodyBytes,
      credentials,
      log,
    });
    log.info({ address: proxy.address, containerHost: plan.containerHost }, 'credential proxy listening');
    return { proxy, plan };
  } catch (err) {
    const problem = (err as Error).message;
    log.warn({ problem }, 'credential proxy not started');
    return { problem };
  }
}
