import { homedir } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { AppError, ValidationError } from '../../errors.ts';
import { checkExtraMounts } from '../../mounts/index.ts';
import { checkGroupNetwork } from '../../proxy/network-policy.ts';
import { refusedEnvName } from '../../runtime/index.ts';
import type { ContainerConfig } from '../../store/schema.ts';
import type { AppContext } from '../context.ts';
import { route } from '../route.ts';

const mountContext = (ctx: AppContext, trust: 'admin' | 'member') => ({
  trust,
  allowlistPath: ctx.config.mountAllowlist,
  dataDir: ctx.config.dataDir,
  homeDir: homedir(),
});

/** Group create/update refuse environment names a runtime, the loader or berth would interpret. */
function checkEnvNames(env: Record<string, string> | undefined): void {
  const refused = Object.keys(env ?? {}).flatMap((name) => {
    const reason = refusedEnvName(name);
    return reason
      ? [{ path: `body/containerConfig/env/${name}`, message: reason, code: 'env_name_refused' }]
      : [];
  });
  if (refused.length > 0)
    throw new AppError(
      'ENV_NAME_REFUSED',
      `containerConfig.env may not set ${refused.map((r) => r.path.split('/').pop()).join(', ')}: ${refused[0]!.message}`,
      { errors: refused },
    );
}

/** Group create/update refuse a container config whose env names or extra mounts would be refused at wake. */
export async function validateGroupContainerConfig(
  ctx: AppContext,
  trust: 'admin' | 'member',
  config: ContainerConfig,
): Promise<void> {
  checkEnvNames(config.env);
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
