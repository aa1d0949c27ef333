import { lookup } from 'node:dns/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { allowedBy, type HostRule, normalHost } from '../config/host-rules.ts';
import { ERROR_CATALOGUE } from '../errors.ts';
import { endToEndHeaders } from './headers.ts';

/** Who a connection belongs to; fixed by the run socket it arrived on. */
export interface EgressContext {
  sessionId: string;
  generation: number;
  /** Every list must allow a destination (global, then the group's narrower one). */
  lists: HostRule[][];
}

/** One request or tunnel, allowed or denied. */
export interface EgressRecord {
  method: string;
  host: string;
  port: number;
  allowed: boolean;
  /** Why it was refused or failed. */
  reason?: string;
  status?: number;
  /** Bytes from the agent (request body or tunnel upload) and to it (response body or tunnel download). */
  bytesIn: number;
  bytesOut: number;
}

export interface EgressProxyOptions {
  /** Names pinned to addresses, like curl --resolve; pinned addresses may be loopback (tests, on-host services). */
  pinned?: Record<string, string>;
  onRecord(ctx: EgressContext, record: EgressRecord): void;
}

export interface EgressProxy {
  accept(socket: Socket, ctx: EgressContext): void;
  close(): void;
}

/** Problem body for refusals; the agent's tools print it, so it names the policy. */
function problem(code: EgressCode, detail: string): string {
  const { status, title } = ERROR_CATALOGUE[code];
  return JSON.stringify({
    type: `urn:berth:problem:${code.toLowerCase().replaceAll('_', '-')}`,
    title,
    status,
    code,
    detail,
  });
}
type EgressCode = 'EGRESS_BAD_REQUEST' | 'EGRESS_DENIED' | 'EGRESS_UNREACHABLE';

/** Loopback, link-local, unspecified and multicast: never reached by a resolved name, only by a pinned one. */
function internalAddress(ip: string): boolean {
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.\d+\.\d+$/i.exec(ip);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 0 || a === 127 || (a === 169 && b === 254) || a >= 224;
  }
  const h = ip.toLowerCase();
  return h === '::' || h === '::1' || /^fe[89ab]/.test(h) || h.startsWith('ff');
}

function splitAuthority(authority: string): { host: string; port: number } | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(authority);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: normalHost(m[1]!), port } : undefined;
}

export function createEgressProxy(options: EgressProxyOptions): EgressProxy {
  const contexts = new WeakMap<object, EgressContext>();
  const pinned = new Map(Object.entries(options.pinned ?? {}).map(([k, v]) => [normalHost(k), v]));

  /** The address to dial, or a reason to refuse. */
  const decide = async (
    ctx: EgressContext,
    host: string,
    port: number,
  ): Promise<{ address: string } | { deny: string; status: number }> => {
    if (!allowedBy(ctx.lists, host, port))
      return {
        status: 403,
        deny: `${host}:${port} is not on this group's network allowlist (policy "allowlist")`,
      };
    const pin = pinned.get(host);
    if (pin) return { address: pin };
    let address: string;
    try {
      address = net.isIP(host) ? host : (await lookup(host)).address;
    } catch (err) {
      return { status: 502, deny: `cannot resolve ${host} (${(err as NodeJS.ErrnoException).code})` };
    }
    // A public name that resolves to the host itself would reopen the hole the policy closes.
    if (internalAddress(address))
      return {
        status: 403,
        deny: `${host} resolves to internal address ${address}; refused by policy "allowlist"`,
      };
    return { address };
  };

  const forward = async (req: IncomingMessage, res: ServerResponse) => {
    const ctx = contexts.get(req.socket);
    let target: URL | undefined;
    try {
      target = new URL(req.url ?? '');
    } catch {
      // Not an absolute URL: `target` stays unset and the request is refused just below.
    }
    if (!ctx || !target || target.protocol !== 'http:') {
      const body = problem('EGRESS_BAD_REQUEST', 'send absolute http:// URLs, or CONNECT for https');
      res.writeHead(400, { 'content-type': 'application/problem+json', connection: 'close' }).end(body);
      return;
    }
    const host = normalHost(target.hostname);
    const port = Number(target.port || 80);
    const record: EgressRecord = {
      method: req.method ?? 'GET',
      host,
      port,
      allowed: false,
      bytesIn: 0,
      bytesOut: 0,
    };
    const verdict = await decide(ctx, host, port);
    if ('deny' in verdict) {
      record.reason = verdict.deny;
      record.status = verdict.status;
      options.onRecord(ctx, record);
      const code = verdict.status === 403 ? 'EGRESS_DENIED' : 'EGRESS_UNREACHABLE';
      res
        .writeHead(verdict.status, { 'content-type': 'application/problem+json', connection: 'close' })
        .end(problem(code, verdict.deny));
      return;
    }
    record.allowed = true;
    const headers = endToEndHeaders(req.headers);
    // RFC 9112 §3.2.2: the absolute URL's authority wins over whatever Host the client sent.
    headers.host = target.host;
    const up = http.request({
      host: verdict.address,
      port,
      method: req.method,
      path: `${target.pathname}${target.search}`,
      headers,
      setHost: false,
    });
    req.on('data', (chunk: Buffer) => {
      record.bytesIn += chunk.length;
    });
    req.pipe(up);
    up.on('response', (upRes) => {
      record.status = upRes.statusCode;
      res.writeHead(upRes.statusCode ?? 502, endToEndHeaders(upRes.headers));
      upRes.on('data', (chunk: Buffer) => {
        record.bytesOut += chunk.length;
      });
      upRes.pipe(res);
    });
    up.on('error', (err: NodeJS.ErrnoException) => {
      record.reason = `upstream ${err.code ?? err.message}`;
      if (res.headersSent) res.destroy();
      else
        res
          .writeHead(502, { 'content-type': 'application/problem+json', connection: 'close' })
          .end(problem('EGRESS_UNREACHABLE', `${host}:${port}: ${err.code ?? err.message}`));
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
      options.onRecord(ctx, record);
    });
  };

  const tunnel = async (req: IncomingMessage, client: Duplex, head: Buffer) => {
    const ctx = contexts.get(req.socket);
    const authority = splitAuthority(req.url ?? '');
    const refuse = (code: EgressCode, detail: string) => {
      const { status } = ERROR_CATALOGUE[code];
      const body = problem(code, detail);
      client.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/problem+json\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    };
    if (!ctx || !authority) return refuse('EGRESS_BAD_REQUEST', 'CONNECT needs host:port');
    const { host, port } = authority;
    const record: EgressRecord = { method: 'CONNECT', host, port, allowed: false, bytesIn: 0, bytesOut: 0 };
    const verdict = await decide(ctx, host, port);
    if ('deny' in verdict) {
      record.reason = verdict.deny;
      record.status = verdict.status;
      options.onRecord(ctx, record);
      return refuse(verdict.status === 403 ? 'EGRESS_DENIED' : 'EGRESS_UNREACHABLE', verdict.deny);
    }
    record.allowed = true;
    const upstream = net.connect({ host: verdict.address, port });
    upstream.once('connect', () => {
      record.status = 200;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) {
        record.bytesIn += head.length;
        upstream.write(head);
      }
      client.on('data', (chunk: Buffer) => {
        record.bytesIn += chunk.length;
      });
      upstream.on('data', (chunk: Buffer) => {
        record.bytesOut += chunk.length;
      });
      client.pipe(upstream).pipe(client);
    });
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      upstream.destroy();
      client.destroy();
      options.onRecord(ctx, record);
    };
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      record.reason = `upstream ${err.code ?? err.message}`;
      if (record.status === undefined) {
        record.status = 502;
        refuse('EGRESS_UNREACHABLE', `${host}:${port}: ${err.code ?? err.message}`);
      }
      finish();
    });
    upstream.on('close', finish);
    client.on('close', finish);
    client.on('error', finish);
  };

  const server = http.createServer((req, res) => void forward(req, res));
  server.on(
    'connect',
    (req: IncomingMessage, client: Duplex, head: Buffer) => void tunnel(req, client, head),
  );
  return {
    accept: (socket, ctx) => {
      contexts.set(socket, ctx);
      server.emit('connection', socket);
    },
    close: () => server.closeAllConnections(),
  };
}
