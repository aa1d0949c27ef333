import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { pipeline } from 'node:stream';
import { AppError } from '../errors.ts';
import { type Logger, silentLogger } from '../logger.ts';
import { assertSafeBindHost } from './bind-plan.ts';
import type { Credential, CredentialSource } from './credentials.ts';
import { checkRequest, type ForwardTarget } from './framing.ts';
import { endToEndHeaders, presentedToken } from './headers.ts';
import { admitPost, type GateContext, type ModelGate, meterUsage, modelCall } from './model-gate.ts';
import { fail } from './replies.ts';
import { type Grant, TokenRegistry, type TrafficStats } from './tokens.ts';
import { parseUpstream, UpstreamPools } from './upstream.ts';

export type { TrafficStats } from './tokens.ts';
export { PLACEHOLDER_PREFIX } from './tokens.ts';

export interface CredentialProxyOptions {
  /** An address from `planProxyBind`; wildcards are refused. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Model API origin, optionally with a base path (e.g. https://api.anthropic.com). */
  upstream: string | URL;
  maxBodyBytes: number;
  /** Trusted CA for an https upstream instead of the system roots (private gateways, tests). */
  upstreamCa?: string | Buffer;
  credentials: CredentialSource;
  /** Caps, model allowlist and metering; without one every model call is forwarded unmetered. */
  gate?: ModelGate;
  /** Never given credentials or header values. */
  log?: Logger;
}

export interface ProxyGrant {
  token: string;
  /** The variable the container gets the placeholder in, matching the current credential's mode. */
  envName: 'ANTHROPIC_API_KEY' | 'CLAUDE_CODE_OAUTH_TOKEN';
}

export interface CredentialProxy {
  address: { host: string; port: number };
  issue(sessionId: string, generation?: number): ProxyGrant;
  /** Ends a placeholder; returns the traffic of its run, or undefined if it was not live. */
  revoke(token: string): TrafficStats | undefined;
  /** Traffic of all runs of a session in this process. */
  stats(sessionId: string): TrafficStats;
  /** Serves a connection that arrived elsewhere (a run's mounted Unix socket). */
  accept(socket: Socket): void;
  close(): Promise<void>;
}

export class ProxyListenError extends AppError {
  override name = 'ProxyListenError';
  constructor(message: string) {
    super('PROXY_LISTEN_FAILED', message);
  }
}

export async function createCredentialProxy(options: CredentialProxyOptions): Promise<CredentialProxy> {
  assertSafeBindHost(options.host);
  const upstream = parseUpstream(options.upstream);
  const origin = upstream.origin;
  const basePath = upstream.pathname.replace(/\/+$/, '');
  const client = upstream.protocol === 'https:' ? https : http;
  const { credentials, maxBodyBytes, gate } = options;
  const contextOf = (grant: Grant): GateContext => ({
    sessionId: grant.sessionId,
    generation: grant.generation,
  });
  const log = options.log ?? silentLogger;
  const tokens = new TokenRegistry();
  const pools = new UpstreamPools(upstream, options.upstreamCa);

  /** Forwards one request; `body` is a body already read (to check its model), else the request streams through. */
  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    target: ForwardTarget,
    grant: Grant,
    secret: Credential,
    body?: { bytes: Buffer; model: string | undefined },
  ) => {
    const started = performance.now();
    const headers = endToEndHeaders(req.headers, [
      'host',
      'x-api-key',
      'authorization',
      'expect',
      'content-length',
    ]);
    headers.host = upstream.host;
    const metered = gate !== undefined && modelCall(req.method, target.path) === 'messages';
    // Usage is read from the bytes as they pass, so they must arrive uncompressed.
    if (metered) headers['accept-encoding'] = 'identity';
    // The body's framing is always stated afresh, never inherited: an unframed body is how smuggling starts.
    if (body) headers['content-length'] = String(body.bytes.length);
    else if (target.framing === 'chunked') headers['transfer-encoding'] = 'chunked';
    else headers['content-length'] = String(target.framing);
    if (secret.mode === 'api-key') headers['x-api-key'] = secret.value;
    else headers.authorization = `Bearer ${secret.value}`;

    let received = 0;
    let given = 0;
    let cut = false;
    let answered = false;
    const upReq = client.request({
      protocol: upstream.protocol,
      hostname: upstream.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: upstream.port,
      method: req.method,
      // Only the path is taken from the client: the origin and base path are always the configured ones.
      path: basePath + target.path,
      headers,
      agent: pools.for(target.token),
    });
    upReq.setNoDelay(true);

    upReq.on('response', (upRes) => {
      answered = true;
      const status = upRes.statusCode ?? 502;
      res.writeHead(status, upRes.statusMessage, endToEndHeaders(upRes.headers));
      res.flushHeaders();
      upRes.on('data', (chunk: Buffer) => {
        given += chunk.length;
        grant.add('bytesOut', chunk.length);
      });
      // pipeline already destroyed both sides; an early end (client gone, upstream reset) is routine.
      pipeline(upRes, res, (err) => {
        if (err)
          log.debug(
            { sessionId: grant.sessionId, code: (err as NodeJS.ErrnoException).code },
            'response stream ended early',
          );
      });
      // After pipeline's own listener: each chunk is written on before it is parsed.
      if (metered)
        meterUsage(upRes, { gate: gate!, ctx: contextOf(grant), status, requestModel: body?.model, log });
    });

    upReq.on('error', (err: NodeJS.ErrnoException) => {
      // After the response started, its own stream reports failures through pipeline().
      if (cut || answered) return;
      cut = true;
      log.warn(
        { sessionId: grant.sessionId, upstream: origin, code: err.code },
        'model upstream request failed',
      );
      fail(
        res,
        502,
        'api_error',
        `berth credential proxy could not reach the model API at ${origin} (${err.code ?? 'error'})`,
      );
    });

    if (body) {
      received = body.bytes.length;
      grant.add('bytesIn', received);
      upReq.end(body.bytes);
    } else {
      // Streams the body by hand rather than pipe() so an oversized body can still be answered with 413.
      req.on('data', (chunk: Buffer) => {
        if (cut) return;
        received += chunk.length;
        if (received > maxBodyBytes) {
          cut = true;
          req.pause();
          upReq.destroy();
          fail(res, 413, 'request_too_large', `request body exceeds the ${maxBodyBytes}-byte limit`);
          return;
        }
        grant.add('bytesIn', chunk.length);
        if (!upReq.write(chunk)) req.pause();
      });
      upReq.on('drain', () => {
        if (!cut) req.resume();
      });
      req.on('end', () => {
        if (!cut) upReq.end();
      });
    }

    res.on('close', () => {
      if (!res.writableFinished) {
        cut = true;
        upReq.destroy();
      }
      log.debug(
        {
          sessionId: grant.sessionId,
          method: req.method,
          path: (req.url ?? '').split('?')[0],
          status: res.statusCode,
          bytesIn: received,
          bytesOut: given,
          ms: Math.round(performance.now() - started),
        },
        'model request proxied',
      );
    });
  };

  const handle = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean) => {
    const checked = checkRequest(req);
    if (typeof checked === 'string') {
      fail(res, checked.startsWith('method') ? 405 : 400, 'invalid_request_error', checked);
      return;
    }
    const token = presentedToken(req.headers);
    const grant = token ? tokens.lookup(token) : undefined;
    if (!token || !grant) {
      log.debug(
        { method: req.method, path: checked.path.split('?')[0], status: 401 },
        'unknown placeholder rejected',
      );
      fail(res, 401, 'authentication_error', 'invalid or revoked berth placeholder token');
      return;
    }
    const secret = credentials.current();
    if (!secret) {
      log.warn({ sessionId: grant.sessionId }, 'no model credential configured');
      fail(res, 503, 'api_error', 'berth has no model credential configured');
      return;
    }
    grant.add('requests', 1);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) {
      fail(res, 413, 'request_too_large', `request body exceeds the ${maxBodyBytes}-byte limit`);
      return;
    }
    const target = { ...checked, token };
    if (gate && req.method === 'POST') {
      const ctx = contextOf(grant);
      admitPost({ gate, ctx, req, res, path: target.path, maxBodyBytes, expectsContinue, log }).then(
        (admitted) => {
          if (admitted) forward(req, res, target, grant, secret, admitted.body);
        },
        (err: Error) => {
          log.warn({ sessionId: grant.sessionId, err: err.message }, 'gated model request failed');
          res.destroy();
        },
      );
      return;
    }
    if (expectsContinue) res.writeContinue();
    forward(req, res, target, grant, secret);
  };

  const server = http.createServer({ noDelay: true }, (req, res) => handle(req, res, false));
  // Checks run before "100 Continue", so a rejected client never uploads its body.
  server.on('checkContinue', (req, res) => handle(req, res, true));

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new ProxyListenError(
          `credential proxy cannot listen on ${options.host}:${options.port} (${err.code})`,
        ),
      ),
    );
    server.listen({ host: options.host, port: options.port }, () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    address: { host: options.host, port },
    issue: (sessionId, generation) => ({
      token: tokens.issue(sessionId, generation),
      envName: credentials.mode() === 'oauth' ? 'CLAUDE_CODE_OAUTH_TOKEN' : 'ANTHROPIC_API_KEY',
    }),
    revoke: (token) => {
      pools.drop(token);
      return tokens.revoke(token);
    },
    stats: (sessionId) => tokens.stats(sessionId),
    accept: (socket) => server.emit('connection', socket),
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        tokens.clear();
        server.close(() => resolve());
        server.closeAllConnections();
        pools.dropAll();
      });
      return closing;
    },
  };
}
