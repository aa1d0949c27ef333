import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectHostFacts } from '../../src/proxy/bind-plan.ts';
import { tempDir } from '../support/db.ts';
import { type FakeModel, startFakeModel } from '../support/fake-model.ts';
import { ensureAgentImage } from '../support/image.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { type ApiEvent, ask, collectEvents, lifecycle, newSession } from '../support/sessions.ts';

const REAL_KEY = 'sk-ant-real-key-for-network-tests';
const MESSAGE = '!fetch POST /v1/messages {"model":"m","max_tokens":8,"messages":[]}';

/** A canary the test owns: counts every connection, answers HTTP with its name. */
interface Canary {
  host: string;
  port: number;
  hits: number;
  close(): Promise<void>;
}

async function canary(host: string, name: string): Promise<Canary> {
  const c = { host, port: 0, hits: 0 } as Canary;
  const server = http.createServer((req, res) => res.end(`${name} ${req.method} ${req.url}`));
  server.on('connection', () => {
    c.hits++;
  });
  await new Promise<void>((resolve) => server.listen({ host, port: 0 }, resolve));
  c.port = (server.address() as AddressInfo).port;
  c.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return c;
}

/** A raw TCP service for CONNECT tunnels: answers each line with `pong <line>` and closes. */
async function pongServer(): Promise<{ port: number; close(): void }> {
  const server = net.createServer((s) => s.once('data', (d) => s.end(`pong ${String(d).trim()}\n`)));
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

describe.each(runtimesUnderTest())('network policies on %s', (runtime) => {
  let server: TestServer;
  let model: FakeModel;
  let loopback: Canary;
  let gateway: Canary;
  let allowed: Canary;
  let pong: { port: number; close(): void };
  let peerName: string;
  let peerIp: string;
  const cli = (args: string[]) => execFileSync(runtime, args, { encoding: 'utf8' }).trim();

  beforeAll(async () => {
    const image = await ensureAgentImage(runtime);
    model = await startFakeModel({ expectedKey: REAL_KEY });
    loopback = await canary('127.0.0.1', 'loopback');
    allowed = await canary('127.0.0.1', 'allowed');
    pong = await pongServer();
    // Another container on the runtime's bridge, listening on its own bridge address.
    peerName = `berth-nettest-peer-${randomBytes(4).toString('hex')}`;
    cli([
      'run',
      '-d',
      '--rm',
      '--pull=never',
      '--name',
      peerName,
      '--entrypoint',
      'node',
      image,
      '-e',
      'const a=Object.values(require("os").networkInterfaces()).flat().find(i=>i.family==="IPv4"&&!i.internal).address;' +
        'require("net").createServer(c=>c.end("peer\\n")).listen(7070,a)',
    ]);
    peerIp = cli(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', peerName]);
    // podman0 exists only while a container is on it, so the gateway canary comes after the peer.
    const gwAddress =
      runtime === 'docker'
        ? detectHostFacts({ runtime }).bridgeGateway
        : JSON.parse(cli(['network', 'inspect', 'podman']))[0].subnets[0].gateway;
    // Never a wildcard: the canary lives on the bridge address alone.
    expect(gwAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    gateway = await canary(gwAddress, 'gateway');
    server = await startTestServer('pglite', {
      BERTH_RUNTIME: runtime,
      BERTH_IMAGE: image,
      BERTH_AGENT: 'echo',
      BERTH_PROJECT_ROOT: tempDir('berth-net-project-'),
      BERTH_STOP_GRACE_MS: '1000',
      BERTH_PROXY_UPSTREAM: model.url,
      ANTHROPIC_API_KEY: REAL_KEY,
      BERTH_EGRESS_ALLOWLIST: `allowed.test:${allowed.port},tunnel.test:${pong.port},*.wild.test:${allowed.port}`,
      // Test-only pins: the names resolve to servers this test owns on loopback.
      BERTH_EGRESS_RESOLVE:
        'allowed.test=127.0.0.1,denied.test=127.0.0.1,tunnel.test=127.0.0.1,a.wild.test=127.0.0.1',
    });
  });

  afterAll(async () => {
    await server?.close();
    if (peerName) execFileSync(runtime, ['rm', '-f', peerName], { stdio: 'ignore' });
    await Promise.all([model?.close(), loopback?.close(), gateway?.close(), allowed?.close()]);
    pong?.close();
  });

  it('readiness names the mechanism and the default policy', async () => {
    const ready = (await (await server.api('/readyz')).json()) as {
      checks: { network: Record<string, unknown> };
    };
    expect(ready.checks.network).toMatchObject({ ok: true });
    expect(String(ready.checks.network.detail)).toMatch(/default policy none.*--network none/);
    expect(ready.checks.network.warning).toBeUndefined();
  });

  it('open (admin only): the bridge reaches the gateway and other containers; the model still works', async () => {
    const member = await server.api('/v1/groups', {
      method: 'POST',
      json: { name: 'm', folder: 'open-member', containerConfig: { network: { policy: 'open' } } },
    });
    expect(member.status).toBe(400);
    const { sessionId } = await newSession(server, {
      trust: 'admin',
      containerConfig: { network: { policy: 'open' } },
    });
    expect(await ask(server, sessionId, `!http http://${gateway.host}:${gateway.port}/open`)).toBe(
      '200\ngateway GET /open',
    );
    expect(await ask(server, sessionId, `!tcp ${peerIp} 7070`)).toBe('connected');
    expect(await ask(server, sessionId, MESSAGE)).toMatch(/^200\n/);
    const wake = lifecycle(
      await collectEvents(server, sessionId, (e) => lifecycle(e, 'wake').length > 0),
      'wake',
    );
    expect(wake[0]!.data.network).toBe('open');
  });

  it('none (the default): only the model, through the proxy socket', async () => {
    const { sessionId } = await newSession(server);
    const before = { loopback: loopback.hits, gateway: gateway.hits };
    expect(await ask(server, sessionId, MESSAGE)).toMatch(/^200\n/);
    expect(model.requests.at(-1)!.headers['x-api-key']).toBe(REAL_KEY);
    const apiPort = new URL(server.url).port;
    // The container's 127.0.0.1 is its own: the host's loopback services are not there.
    expect(await ask(server, sessionId, `!tcp 127.0.0.1 ${loopback.port}`)).toBe('ECONNREFUSED');
    expect(await ask(server, sessionId, `!tcp 127.0.0.1 ${apiPort}`)).toBe('ECONNREFUSED');
    expect(await ask(server, sessionId, `!tcp 10.0.2.2 ${loopback.port}`)).toBe('ENETUNREACH');
    expect(await ask(server, sessionId, `!tcp ${gateway.host} ${gateway.port}`)).toBe('ENETUNREACH');
    expect(await ask(server, sessionId, `!tcp ${peerIp} 7070`)).toBe('ENETUNREACH');
    expect(await ask(server, sessionId, `!http http://allowed.test:${allowed.port}/`)).toMatch(/^ERR E/);
    expect({ loopback: loopback.hits, gateway: gateway.hits }).toEqual(before);
    const env = JSON.parse(await ask(server, sessionId, '!env')) as Record<string, string>;
    expect(env.HTTP_PROXY).toBeUndefined();
    expect(env.BERTH_NETWORK_POLICY).toBe('none');
    const events = await collectEvents(server, sessionId, (e) => lifecycle(e, 'wake').length > 0);
    const name = String(lifecycle(events, 'wake')[0]!.data.containerName);
    expect(cli(['inspect', '-f', '{{.HostConfig.NetworkMode}}', name])).toBe('none');
  });

  it('allowlist: listed hosts through the egress proxy, everything else 403; each one an event', async () => {
    const { sessionId } = await newSession(server, { containerConfig: { network: { policy: 'allowlist' } } });
    expect(await ask(server, sessionId, `!http http://allowed.test:${allowed.port}/hi`)).toBe(
      '200\nallowed GET /hi',
    );
    expect(await ask(server, sessionId, `!http http://a.wild.test:${allowed.port}/w`)).toBe(
      '200\nallowed GET /w',
    );
    const denied = await ask(server, sessionId, `!http http://denied.test:${allowed.port}/no`);
    expect(denied).toMatch(/^403\n/);
    expect(JSON.parse(denied.slice(4))).toMatchObject({ status: 403, code: 'EGRESS_DENIED' });
    expect(denied).toContain('allowlist');
    expect(await ask(server, sessionId, `!tunnel tunnel.test:${pong.port} ping`)).toMatch(
      /^HTTP\/1\.1 200 Connection Established\r\n\r\npong ping\n$/,
    );
    const refused = await ask(server, sessionId, `!tunnel denied.test:${pong.port} ping`);
    expect(refused).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*EGRESS_DENIED/);
    // Still no way around the proxy, and the model still works.
    expect(await ask(server, sessionId, `!tcp ${gateway.host} ${gateway.port}`)).toBe('ENETUNREACH');
    expect(await ask(server, sessionId, MESSAGE)).toMatch(/^200\n/);

    const egress = (e: ApiEvent[]) => lifecycle(e, 'egress');
    const events = egress(await collectEvents(server, sessionId, (e) => egress(e).length >= 5));
    const seen = events.map((e) => ({
      method: e.data.method,
      host: e.data.host,
      allowed: e.data.allowed,
      status: e.data.status,
    }));
    expect(seen).toEqual([
      { method: 'GET', host: 'allowed.test', allowed: true, status: 200 },
      { method: 'GET', host: 'a.wild.test', allowed: true, status: 200 },
      { method: 'GET', host: 'denied.test', allowed: false, status: 403 },
      { method: 'CONNECT', host: 'tunnel.test', allowed: true, status: 200 },
      { method: 'CONNECT', host: 'denied.test', allowed: false, status: 403 },
    ]);
    expect(events[0]!.data.bytesOut).toBe(Buffer.byteLength('allowed GET /hi'));
    expect(events[3]!.data).toMatchObject({
      bytesIn: Buffer.byteLength('ping\n'),
      bytesOut: Buffer.byteLength('pong ping\n'),
    });
  });

  it('a group list narrows the global one', async () => {
    const { sessionId } = await newSession(server, {
      containerConfig: { network: { policy: 'allowlist', allow: [`tunnel.test:${pong.port}`] } },
    });
    expect(await ask(server, sessionId, `!http http://allowed.test:${allowed.port}/x`)).toMatch(/^403\n/);
    expect(await ask(server, sessionId, `!tunnel tunnel.test:${pong.port} ok`)).toMatch(/pong ok/);
  });
});
