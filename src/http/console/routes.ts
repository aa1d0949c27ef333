import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { route } from '../route.ts';

/** The console's files: plain ES modules and CSS, served as they are (nothing is generated). */
export const WEB_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../web');

// The page loads only its own files and talks only to this origin (HTTP and WebSocket).
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function secured(reply: FastifyReply): FastifyReply {
  return reply.headers({
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
}

/** `GET /` and `GET /console/{asset}`: the web console, public like any login page; its API calls need a key. */
export function consoleRoutes() {
  return async (app: FastifyInstance) => {
    await app.register(fastifyStatic, {
      root: WEB_DIR,
      serve: false,
      dotfiles: 'deny',
      index: false,
      // max-age=0 with an ETag: revalidated on every load, so a new berth never runs a stale console.
      maxAge: 0,
      // RFC 9239's type for JavaScript (the mime table still says application/javascript).
      setHeaders: (reply, file) => {
        if (file.endsWith('.js')) reply.header('content-type', 'text/javascript; charset=utf-8');
      },
    });
    // Listed once at start, regular files only: send follows symlinks, so one in web/ could lead outside it.
    const files = new Set(
      readdirSync(WEB_DIR, { withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => entry.name),
    );
    route(app, 'getConsole', async (_request, reply) => secured(reply).sendFile('index.html'));
    // The contract's pattern admits plain file names only, so no path reaches outside WEB_DIR.
    route(app, 'getConsoleAsset', async (request, reply) => {
      const { asset } = request.params;
      if (!files.has(asset)) return secured(reply).callNotFound();
      return secured(reply).sendFile(asset);
    });
  };
}
