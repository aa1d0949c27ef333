import type { Buffer } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../../errors.ts';
import { getGroup } from '../../store/groups.ts';
import { createKey, listAudit, listKeys, revokeKey } from '../../store/keys.ts';
import type { ApiKeyRow, AuditRow } from '../../store/schema.ts';
import { principalOf } from '../auth.ts';
import type { AppContext } from '../context.ts';
import { page, route } from '../route.ts';
import type { KeySockets } from '../stream/key-sockets.ts';
import { mintKey } from './secret.ts';

/** NOTIFY channel: a key revoked on one instance closes its streams on every instance. */
export const REVOKED_CHANNEL = 'berth_key_revoked';

const presentKey = (k: ApiKeyRow) => ({
  id: k.id,
  name: k.name,
  role: k.role,
  groupIds: k.groupIds,
  createdAt: k.createdAt.toISOString(),
  createdBy: k.createdBy,
  lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
  expiresAt: k.expiresAt?.toISOString() ?? null,
});

const presentAudit = (a: AuditRow) => ({
  id: a.id,
  time: a.time.toISOString(),
  actor: a.actor,
  action: a.action,
  keyId: a.keyId,
  detail: a.detail,
});

export function keyRoutes(ctx: AppContext, deps: { pepper: Buffer; sockets: KeySockets }) {
  return async (app: FastifyInstance) => {
    const { db } = ctx.store;
    const unlisten = await ctx.store.listen(REVOKED_CHANNEL, (keyId) => deps.sockets.revoke(keyId));
    app.addHook('onClose', async () => unlisten());

    route(app, 'createKey', async (request, reply) => {
      const { name, role, groupIds, expiresAt } = request.body;
      if (role === 'admin' && groupIds)
        throw new ValidationError('admin keys reach every group: drop groupIds or pick another role', [
          { path: 'body/groupIds', message: 'must be absent for admin keys' },
        ]);
      const expires = expiresAt === undefined ? null : new Date(expiresAt);
      if (expires && expires.getTime() <= Date.now())
        throw new ValidationError('expiresAt must be in the future', [
          { path: 'body/expiresAt', message: 'must be in the future' },
        ]);
      for (const groupId of groupIds ?? []) await getGroup(db, groupId);
      const minted = mintKey(deps.pepper);
      const row = await createKey(db, {
        id: minted.id,
        name,
        role,
        groupIds: groupIds ?? null,
        secretHash: minted.secretHash,
        expiresAt: expires,
        createdBy: principalOf(request).actor,
      });
      reply.code(201);
      return { ...presentKey(row), lastUsedAt: null, key: minted.token };
    });

    route(app, 'listKeys', async (request) => {
      const q = request.query;
      return page(await listKeys(db, { after: q.cursor, limit: q.limit + 1 }), q.limit, presentKey);
    });

    route(app, 'deleteKey', async (request, reply) => {
      const { keyId } = request.params;
      await revokeKey(db, keyId, principalOf(request).actor);
      deps.sockets.revoke(keyId);
      await ctx.store.notify(REVOKED_CHANNEL, keyId);
      reply.code(204);
    });

    route(app, 'listAudit', async (request) => {
      const q = request.query;
      return page(await listAudit(db, { after: q.cursor, limit: q.limit + 1 }), q.limit, presentAudit);
    });
  };
}
