import { statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowedBy, parseHostRule, parseHostRules } from '../../src/config/host-rules.ts';
import { createEgressProxy, type EgressRecord } from '../../src/proxy/egress-proxy.ts';
import { checkGroupNetwork, effectiveNetwork, networkEnv } from '../../src/proxy/network-policy.ts';
import { openRunSockets, type RunSockets } from '../../src/proxy/run-sockets.ts';
import { tempDir } from '../support/db.ts';

describe('host rules', () => {
  it('parses names, wildcards and ports and refuses the rest', () => {
    expect(parseHostRule('Example.COM.')).toEqual({
      host: 'example.com',
      wildcard: false,
      text: 'Example.COM.',
    });
    expect(parseHostRule('*.npmjs.org:8443')).toMatchObject({
      host: 'npmjs.org',
      wildcard: true,
      port: 8443,
    });
    for (const bad of ['*', 'a b', 'http://x', '*.1.2.3.4', 'x:0', 'x:70000', '-x.com', ''])
      expect(typeof parseHostRule(bad), bad).toBe('string');
  });

  it('matches exact names on 80/443 unless a port is named; wildcards only below the suffix', () => {
    const rules = parseHostRules(['example.com', '*.pypi.org', 'git.local:2222']);
    expect(allowedBy([rules], 'EXAMPLE.com', 443)).toBe(true);
    expect(allowedBy([rules], 'example.com', 22)).toBe(false);
    expect(allowedBy([rules], 'sub.example.com', 443)).toBe(false);
    expect(allowedBy([rules], 'files.pypi.org', 80)).toBe(true);
    expect(allowedBy([rules], 'pypi.org', 443)).toBe(false);
    expect(allowedBy([rules], 'evilpypi.org', 443)).toBe(false);
    expect(allowedBy([rules], 'git.local', 2222)).toBe(true);
    expect(allowedBy([rules], 'git.local', 443)).toBe(false);
  });

  it('a group list narrows the global one and open needs an admin group', () => {
    const eff = effectiveNetwork(
      { policy: 'none', allow: ['a.test', 'b.test'] },
      { policy: 'allowlist', allow: ['b.test', 'c.test'] },
    );
    expect(eff.policy).toBe('allowlist');
    expect(allowedBy(eff.lists, 'b.test', 443)).toBe(true);
    expect(allowedBy(eff.lists, 'a.test', 443)).toBe(false);
    expect(allowedBy(eff.lists, 'c.test', 443)).toBe(false);
    expect(effectiveNetwork({ policy: 'none', allow: [] }, undefined).policy).toBe('none');
    expect(checkGroupNetwork('member', { policy: 'open' })).toEqual([
      { path: 'policy', message: 'policy "open" needs an admin group' },
    ]);
    expect(checkGroupNetwork('admin', { policy: 'open', allow: ['ok.test', 'bad host'] })).toHaveLength(1);
  });

  it('sets proxy variables only for allowlist', () => {
    expect(networkEnv('none').HTTP_PROXY).toBeUndefined();
    expect(networkEnv('allowlist')).toMatchObject({
      HTTPS_PROXY: 'http://127.0.0.1:3128',
      https_proxy: 'http://127.0.0.1:3128',
    });
    expect(networkEnv('allowlist').NO_PROXY).toContain('127.0.0.1');
  });
});

describe('egress proxy over a run socket', () => {
  let target: http.Server;
  let port: number;
  let sockets: RunSockets;
  const records: EgressRecord[] = [];

  /** A request the way a proxy-aware client sends it, over the run's Unix socket. */
  const viaProxy = (url: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.get({ socketPath: path.join(sockets.dir, 'egress.sock'), path: url }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });

  beforeAll(async () => {
    target = http.createServer((req, res) => res.end(`target ${req.headers.host} ${req.url}`));
    await new Promise<void>((resolve) => target.listen({ host: '127.0.0.1', port: 0 }, resolve));
    port = (target.address() as AddressInfo).port;
    const egress = createEgressProxy({
      pinned: { 'pinned.test': '127.0.0.1' },
      onRecord: (_ctx, r) => records.push(r),
    });
    const lists = [parseHostRules([`pinned.test:${port}`, `localhost:${port}`])];
    sockets = await openRunSockets(path.join(tempDir('berth-egress-'), 'run'), 'berth-s-1', {
      egress: (s) => egress.accept(s, { sessionId: 's', generation: 1, lists }),
    });
  });

  afterAll(async () => {
    await sockets?.close();
    target?.close();
  });

  it('the socket directory is traversable and the socket connectable by another uid', () => {
    expect(statSync(sockets.dir).mode & 0o777).toBe(0o755);
    expect(statSync(path.join(sockets.dir, 'egress.sock')).mode & 0o777).toBe(0o666);
  });

  it('forwards an allowed pinned name and counts its bytes', async () => {
    const res = await viaProxy(`http://pinned.test:${port}/a?b=1`);
    expect(res).toEqual({ status: 200, body: `target pinned.test:${port} /a?b=1` });
    await expect.poll(() => records.length).toBe(1);
    expect(records[0]).toMatchObject({
      host: 'pinned.test',
      allowed: true,
      status: 200,
      bytesOut: res.body.length,
    });
  });

  it('refuses an allowed name that resolves to an internal address', async () => {
    const res = await viaProxy(`http://localhost:${port}/`);
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'EGRESS_DENIED' });
    expect(res.body).toContain('internal address');
  });

  it('refuses what no rule allows, and requests that are not absolute http URLs', async () => {
    expect((await viaProxy(`http://pinned.test:${port + 1}/`)).status).toBe(403);
    expect((await viaProxy('/relative')).status).toBe(400);
  });

  it('close removes the directory', async () => {
    const other = await openRunSockets(path.join(tempDir('berth-egress-'), 'run'), 'x', { a: () => {} });
    await other.close();
    expect(() => statSync(other.dir)).toThrow();
  });
});
