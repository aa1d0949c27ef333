import { readFileSync } from 'node:fs';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { getAbsoluteFSPath } from 'swagger-ui-dist';
import { AppError } from '../../errors.ts';
import { route } from '../route.ts';
import { specPath } from '../spec.ts';

/** Swagger UI's own files the page loads; nothing else of the package is served. */
const ASSETS = new Set(['swagger-ui.css', 'swagger-ui-bundle.js', 'index.css', 'favicon-32x32.png']);

/** The page points Swagger UI at this service's contract; the setup is a file, so no inline script is needed. */
const INIT = `window.addEventListener('load', () => {
  window.ui = SwaggerUIBundle({
    url: '/openapi.yaml',
    dom_id: '#swagger-ui',
    deepLinking: true,
    layout: 'BaseLayout',
    // "Try it out" calls the berth that served this page, whatever address the contract's example names.
    requestInterceptor: (req) => {
      const target = new URL(req.url, location.href);
      req.url = location.origin + target.pathname + target.search;
      return req;
    },
  });
});
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>berth API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="stylesheet" href="/docs/index.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/berth-init.js"></script>
</body>
</html>
`;

// Everything comes from berth itself; Swagger UI sets style attributes and uses data: icons.
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** Every answer of /docs: the CSP, no type sniffing, and no Referer from Try it out's calls. */
const secured = (reply: FastifyReply) =>
  reply.headers({
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });

const page = (reply: FastifyReply, type: string, body: string) => secured(reply).type(type).send(body);

/** `GET /docs`: openapi.yaml rendered by Swagger UI from swagger-ui-dist (no CDN); `GET /openapi.yaml`. */
export function docsRoutes() {
  return async (app: FastifyInstance) => {
    const spec = readFileSync(specPath, 'utf8');
    // Scoped to this plugin: only reply.sendFile is added; the routes below decide what is served.
    // Swagger UI's files change only with the package, so browsers may keep them for an hour.
    await app.register(fastifyStatic, { root: getAbsoluteFSPath(), serve: false, maxAge: '1h' });

    route(app, 'getOpenApi', async (_request, reply) => reply.type('application/yaml').send(spec));
    route(app, 'getDocs', async (_request, reply) => page(reply, 'text/html; charset=utf-8', PAGE));
    route(app, 'getDocsAsset', async (request, reply) => {
      const { asset } = request.params;
      if (asset === 'berth-init.js') return page(reply, 'text/javascript; charset=utf-8', INIT);
      if (!ASSETS.has(asset))
        throw new AppError('DOCS_ASSET_NOT_FOUND', `${asset} is not a documentation asset`);
      return secured(reply).sendFile(asset);
    });
  };
}
