import send from '@fastify/send';
import { create as contentDisposition } from 'content-disposition';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.ts';
import { checkPath } from '../../files/names.ts';
import { contentTypeOf } from '../../files/outbox.ts';
import { openFileBeneath } from '../../files/safe-open.ts';
import { listDir, writeBeneath } from '../../files/workspace.ts';
import { sessionDir } from '../../mounts/folders.ts';
import { getFile, listFiles } from '../../store/files.ts';
import { getSession } from '../../store/sessions.ts';
import type { AppContext } from '../context.ts';
import { page, route } from '../route.ts';
import { agentOwner, ensureSessionFolder, nameRules, workspaceRoom } from './session-folder.ts';

/** Delivered files (the file store) and the session workspace over HTTP. */
export function fileRoutes(ctx: AppContext) {
  return async (app: FastifyInstance) => {
    const { db } = ctx.store;
    const { config } = ctx;
    const files = ctx.files;
    if (!files) throw new Error('the files plugin needs the file store');
    const rules = nameRules(config);
    // Uploads are raw bytes streamed from the request: no parser reads (or buffers) them; other types get 415.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/octet-stream', (_request, _payload, done) => done(null, undefined));

    route(app, 'listFiles', async (request) => {
      const { sessionId } = request.params;
      const q = request.query;
      await getSession(db, sessionId);
      const rows = await listFiles(db, { sessionId, cursor: q.cursor, limit: q.limit + 1 });
      return page(rows, q.limit, (f) => ({
        id: f.id,
        name: f.name,
        size: f.size,
        contentType: f.contentType,
        sha256: f.sha256,
        messageId: f.messageId,
        createdAt: f.createdAt.toISOString(),
      }));
    });

    route(app, 'getFile', async (request, reply) => {
      const { sessionId, fileId } = request.params;
      await getSession(db, sessionId);
      const file = await getFile(db, sessionId, fileId);
      // The store is berth's own directory (no agent writes there), so serving it by path is safe.
      const sent = await send(request.raw, `/${file.sha256.slice(0, 2)}/${file.sha256}`, {
        root: files.dir,
        contentType: false,
        cacheControl: false,
        etag: false,
        lastModified: false,
        dotfiles: 'deny',
      });
      if (sent.statusCode === 416) {
        sent.stream.destroy();
        reply.header('content-range', `bytes */${file.size}`);
        throw new AppError('RANGE_NOT_SATISFIABLE', `the range is outside the file's ${file.size} bytes`);
      }
      if (sent.statusCode >= 400) {
        sent.stream.destroy();
        throw new AppError('FILE_NOT_FOUND', `the content of file ${fileId} is no longer stored`);
      }
      reply.code(sent.statusCode).headers(sent.headers);
      reply.header('content-type', file.contentType);
      reply.header('content-disposition', contentDisposition(file.name));
      reply.header('x-content-type-options', 'nosniff');
      return reply.send(sent.stream);
    });

    route(app, 'listWorkspace', async (request) => {
      const session = await getSession(db, request.params.sessionId);
      const parts = checkPath(request.query.path, rules);
      const root = sessionDir(config.dataDir, session.groupId, session.id);
      try {
        return { path: parts.join('/'), entries: await listDir(root, parts, rules) };
      } catch (err) {
        // A session that never woke has no folder yet: its workspace is empty.
        if (parts.length === 0 && (err as AppError).code === 'WORKSPACE_PATH_NOT_FOUND')
          return { path: '', entries: [] };
        throw err;
      }
    });

    route(app, 'getWorkspaceFile', async (request, reply) => {
      const session = await getSession(db, request.params.sessionId);
      const parts = checkPath(request.query.path, rules);
      if (parts.length === 0)
        throw new AppError('FILE_IS_DIRECTORY', 'the workspace is a directory, not a file');
      const root = sessionDir(config.dataDir, session.groupId, session.id);
      // Served from the descriptor opened and checked, never by reopening the path.
      const { handle, stat } = await openFileBeneath(root, parts);
      const name = parts.at(-1)!;
      reply.header('content-type', contentTypeOf(name));
      reply.header('content-length', stat.size);
      reply.header('content-disposition', contentDisposition(name));
      reply.header('x-content-type-options', 'nosniff');
      return reply.send(
        handle.createReadStream({ start: 0, end: Math.max(0, stat.size - 1), autoClose: true }),
      );
    });

    route(app, 'putWorkspaceFile', async (request, reply) => {
      const session = await getSession(db, request.params.sessionId);
      const parts = checkPath(request.query.path, rules);
      const root = await ensureSessionFolder(config, session);
      const maxBytes = Math.min(config.uploadMaxBytes, await workspaceRoom(config, root));
      const declared = Number(request.headers['content-length'] ?? 0);
      if (declared > maxBytes)
        throw new AppError('FILE_TOO_LARGE', `the file is larger than the limit of ${maxBytes} bytes`, {
          limit: maxBytes,
        });
      const written = await writeBeneath(root, parts, request.raw, {
        maxBytes,
        rules,
        ...(agentOwner(config) ? { owner: agentOwner(config)! } : {}),
      });
      reply.code(written.replaced ? 200 : 201);
      return { path: parts.join('/'), size: written.size, sha256: written.sha256 };
    });
  };
}
