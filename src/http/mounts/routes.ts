import { homedir } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../../errors.ts';
import { checkExtraMounts } from '../../mounts/index.ts';
import { checkGroupNetwork } from '../../proxy/network-policy.ts';
import type { ContainerConfig } from '../../store/schema.ts';
import type { AppContext } from '../context.ts';
import { route } from '../route.ts';

const mountContext = (ctx: AppContext, trust: 'admin' | 'member') => ({
  trust,
  allowlistPath: ctx.config.mountAllowlist,
  dataDir: ctx.config.dataDir,
  homeDir: homedir(),
});

/** Group create/update refuse a container config whose extra mounts would be refused at wake. */
export async function validateGroupContainerConfig(
  ctx: AppContext,
  trust: 'admin' | 'member',
  config: ContainerConfig,
): Promise<void> {
  const network = checkGroupNetwork(trust, config.network);
  if (network.length > 0) {
    throw new ValidationError(
      network.map((p) => p.message).join('; '),
      network.map((p) => ({
        path: `body/containerConfig/network/${p.path}`,
        message: p.message,
        code: 'NETWORK_POLICY',
      })),
    );
  }
  if (!config.mounts?.length) return;
  const { refused } = await checkExtraMounts(config.mounts, mountContext(ctx, trust));
  if (refused.length > 0) {
    throw new ValidationError(
      `${refused.length} extra mount(s) refused`,
      refused.map((r) => ({
        path: `body/containerConfig/mounts/${r.index}`,
        message: r.reason,
        code: r.code,
      })),
    );
  }
}

export function mountRoutes(ctx: AppContext) {
  return async (app: FastifyInstance) => {
    route(app, 'checkMounts', async (request) => {
      const body = request.body;
      const result = await checkExtraMounts(body.mounts, mountContext(ctx, body.trust));
      return {
        accepted: result.accepted.map((m) => ({
          hostPath: m.hostPath,
          containerPath: m.containerPath,
          readonly: m.readonly,
        })),
        refused: result.refused,
      };
    });
  };
}
