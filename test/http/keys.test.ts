import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret, loadPepper, mintKey, parseToken } from '../../src/http/keys/secret.ts';
import { createKey } from '../../src/store/keys.ts';
import { closed, groupWorld, newKey, openSocket } from '../support/access.ts';
import { call, expectProblem, type Page } from '../support/contract.ts';
import { dbKinds, freshDatabaseUrl, tempDir } from '../support/db.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

interface ApiKey {
  id: string;
  name: string;
  role: string;
  groupIds: string[] | null;
  lastUsedAt: string | null;
  expiresAt: string | null;
  createdBy: string;
}
interface AuditEntry {
  actor: string;
  action: string;
  keyId: string;
}

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const streamUrl = (srv: TestServer, sessionId: string) =>
  `${srv.url.replace(/^http/, 'ws')}/v1/sessions/${sessionId}/stream`;

describe.each(dbKinds())('API keys (%s)', (kind) => {
  let srv: TestServer;

  beforeAll(async () => {
    srv = await startTestServer(kind, { BERTH_RUNTIME: 'container' });
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('shows the secret once, lists keys without it, and records their use', async () => {
    const { group } = await groupWorld(srv);
    const created = await newKey(srv, { role: 'viewer', groupIds: [group.id] });
    expect(created.key).toMatch(/^bk_[0-9a-z]{21}_[A-Za-z0-9_-]{43}$/);
    expect(parseToken(created.key)?.id).toBe(created.id);

    const used = await call(srv, 'GET', `/v1/groups/${group.id}`, bearer(created.key));
    expect(used.res.status).toBe(200);
    const { body } = await call<Page<ApiKey>>(srv, 'GET', '/v1/keys?limit=500');
    const listed = body.items.find((k) => k.id === created.id)!;
    expect(listed).toMatchObject({ role: 'viewer', groupIds: [group.id], createdBy: 'bootstrap' });
    expect(listed.lastUsedAt).not.toBeNull();
    expect(JSON.stringify(body)).not.toContain(parseToken(created.key)!.secret);
  });

  it('stores only a keyed digest of the secret: a dump of the tables holds neither key nor secret', async () => {
    const created = await newKey(srv, { role: 'operator' });
    const { secret } = parseToken(created.key)!;
    const dump = JSON.stringify([
      await srv.store.db.execute(sql`select * from api_keys`),
      await srv.store.db.execute(sql`select * from audit_log`),
    ]);
    expect(dump).toContain(created.id);
    expect(dump).not.toContain(secret);
    expect(dump).not.toContain(created.key);
    // The digest is an HMAC under the data dir's pepper (mode 0600), not a bare hash of the secret.
    const pepperFile = path.join(srv.dataDir, 'key-pepper');
    expect(statSync(pepperFile).mode & 0o777).toBe(0o600);
    expect(dump).toContain(hashSecret(loadPepper(pepperFile), secret));
    expect(await readFile(pepperFile, 'utf8')).not.toContain(secret);
  });

  it('compares secrets in constant time and refuses a wrong one', async () => {
    const source = await readFile(new URL('../../src/http/keys/secret.ts', import.meta.url), 'utf8');
    expect(source).toMatch(/timingSafeEqual\(given, stored\)/);
    const auth = await readFile(new URL('../../src/http/auth.ts', import.meta.url), 'utf8');
    expect(auth).toMatch(/secretMatches\(/);
    expect(auth).not.toMatch(/secretHash\s*[!=]==/);

    const created = await newKey(srv, { role: 'admin' });
    const last = created.key.at(-1) === 'A' ? 'B' : 'A';
    const { res, body } = await call(srv, 'GET', '/v1/keys', bearer(`${created.key.slice(0, -1)}${last}`));
    expectProblem(res, body, 401, 'UNAUTHORIZED');
  });

  it('refuses admin keys limited to groups, past expiries and unknown groups', async () => {
    const { group } = await groupWorld(srv);
    const cases: Array<[unknown, number, string]> = [
      [{ name: 'a', role: 'admin', groupIds: [group.id] }, 400, 'VALIDATION_FAILED'],
      [
        { name: 'a', role: 'viewer', expiresAt: new Date(Date.now() - 1000).toISOString() },
        400,
        'VALIDATION_FAILED',
      ],
      [{ name: 'a', role: 'viewer', groupIds: ['grp_000000000000000000000'] }, 404, 'GROUP_NOT_FOUND'],
      [{ name: 'a', role: 'root' }, 400, 'VALIDATION_FAILED'],
    ];
    for (const [json, status, code] of cases) {
      const { res, body } = await call(srv, 'POST', '/v1/keys', { json });
      expectProblem(res, body, status, code);
    }
  });

  it('refuses an expired key with KEY_EXPIRED', async () => {
    const pepper = loadPepper(path.join(srv.dataDir, 'key-pepper'));
    const minted = mintKey(pepper);
    await createKey(srv.store.db, {
      id: minted.id,
      name: 'expired',
      role: 'admin',
      groupIds: null,
      secretHash: minted.secretHash,
      expiresAt: new Date(Date.now() - 1000),
      createdBy: 'bootstrap',
    });
    const { res, body } = await call(srv, 'GET', '/v1/keys', bearer(minted.token));
    expectProblem(res, body, 401, 'KEY_EXPIRED');
  });

  it('closes a stream when its key expires', async () => {
    const { group, session } = await groupWorld(srv);
    const expiresAt = new Date(Date.now() + 3000).toISOString();
    const created = await newKey(srv, { role: 'viewer', groupIds: [group.id], expiresAt });
    const opened = await openSocket(streamUrl(srv, session.id), created.key);
    expect(opened.status).toBe(101);
    expect(await closed(opened.socket!)).toEqual({ code: 4001, reason: 'key expired' });
    const { res, body } = await call(srv, 'GET', `/v1/sessions/${session.id}`, bearer(created.key));
    expectProblem(res, body, 401, 'KEY_EXPIRED');
  });

  it('revokes at once: open streams close, requests fail, and the audit trail says who did what', async () => {
    const { group, session } = await groupWorld(srv);
    const admin = await newKey(srv, { role: 'admin' });
    const operator = await newKey(srv, { role: 'operator', groupIds: [group.id] });
    const opened = await openSocket(streamUrl(srv, session.id), operator.key);
    expect(opened.status).toBe(101);
    const closing = closed(opened.socket!);

    const revoked = await call(srv, 'DELETE', `/v1/keys/${operator.id}`, bearer(admin.key));
    expect(revoked.res.status).toBe(204);
    expect(await closing).toEqual({ code: 4001, reason: 'key revoked' });
    const after = await call(srv, 'GET', `/v1/sessions/${session.id}`, bearer(operator.key));
    expectProblem(after.res, after.body, 401, 'UNAUTHORIZED');
    const again = await call(srv, 'DELETE', `/v1/keys/${operator.id}`, bearer(admin.key));
    expectProblem(again.res, again.body, 404, 'KEY_NOT_FOUND');

    const { body } = await call<Page<AuditEntry>>(srv, 'GET', '/v1/audit?limit=500', bearer(admin.key));
    const trail = body.items.filter((e) => e.keyId === operator.id).map((e) => [e.action, e.actor]);
    expect(trail).toEqual([
      ['key.create', 'bootstrap'],
      ['key.revoke', admin.id],
    ]);
    const forbidden = await call(
      srv,
      'GET',
      '/v1/audit',
      bearer((await newKey(srv, { role: 'operator' })).key),
    );
    expectProblem(forbidden.res, forbidden.body, 403, 'FORBIDDEN');
  });
});

describe.each(dbKinds().filter((k) => k === 'postgres'))('API keys across instances (%s)', (kind) => {
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    // Instances sharing a database share the pepper file, as the README says.
    const env = {
      BERTH_RUNTIME: 'container',
      DATABASE_URL: await freshDatabaseUrl(),
      BERTH_KEY_PEPPER_FILE: path.join(tempDir(), 'key-pepper'),
    };
    a = await startTestServer(kind, env);
    b = await startTestServer(kind, env);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('a key made on one instance works on another, and revoking it there closes its streams here', async () => {
    const { group, session } = await groupWorld(a);
    const viewer = await newKey(a, { role: 'viewer', groupIds: [group.id] });
    const opened = await openSocket(streamUrl(b, session.id), viewer.key);
    expect(opened.status).toBe(101);
    const closing = closed(opened.socket!);
    const revoked = await call(a, 'DELETE', `/v1/keys/${viewer.id}`);
    expect(revoked.res.status).toBe(204);
    expect(await closing).toEqual({ code: 4001, reason: 'key revoked' });
  });
});
