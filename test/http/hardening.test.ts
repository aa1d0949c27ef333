import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  call,
  expectProblem,
  type Group,
  type Message,
  type Problem,
  type Session,
} from '../support/contract.ts';
import { dbKinds } from '../support/db.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

type Readiness = { ready: boolean; checks: Record<string, { ok: boolean; detail?: string }> };

describe.each(dbKinds())('hostile requests are refused before the database (%s)', (kind) => {
  let srv: TestServer;
  let session: Session;

  beforeAll(async () => {
    srv = await startTestServer(kind, { BERTH_RUNTIME: 'container' });
    const g = await call<Group>(srv, 'POST', '/v1/groups', { json: { name: 'H', folder: 'hardening' } });
    session = (await call<Session>(srv, 'POST', '/v1/sessions', { json: { groupId: g.body.id } })).body;
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('out-of-range integer cursors and limits answer 400, not a database error', async () => {
    const base = `/v1/sessions/${session.id}`;
    const hostile = ['99999999999999999999', '1e300', '9007199254740992', '-1', '1.5', 'Infinity'];
    for (const value of hostile) {
      for (const p of [`${base}/events?after=${value}`, `${base}/messages?after=${value}`]) {
        const { res, body } = await call<Problem>(srv, 'GET', p);
        expectProblem(res, body, 400, 'VALIDATION_FAILED');
        expect(body.detail, p).toMatch(/after/);
      }
    }
    for (const value of ['0', '501', '1e300', '99999999999999999999']) {
      for (const p of [
        `${base}/events?limit=${value}`,
        `${base}/messages?limit=${value}`,
        `/v1/groups?limit=${value}`,
      ]) {
        const { res, body } = await call<Problem>(srv, 'GET', p);
        expectProblem(res, body, 400, 'VALIDATION_FAILED');
      }
    }
    const { res, body } = await call<Problem>(srv, 'GET', `${base}/events?wait=1e300`);
    expectProblem(res, body, 400, 'VALIDATION_FAILED');
    // The largest exact cursor is still accepted.
    const edge = await call<{ items: unknown[] }>(srv, 'GET', `${base}/messages?after=9007199254740991`);
    expect(edge.res.status).toBe(200);
    expect(edge.body.items).toEqual([]);
  });

  it('a body with 20,000 unknown fields gets a small problem: 20 errors listed and the count', async () => {
    const fields: Record<string, string> = { name: 'x', folder: 'flood' };
    for (let i = 0; i < 20_000; i++) fields[`f${i}`] = 'x';
    const raw = JSON.stringify(fields);
    expect(raw.length).toBeGreaterThan(200_000);
    const res = await fetch(`${srv.url}/v1/groups`, {
      method: 'POST',
      headers: { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json' },
      body: raw,
    });
    const text = await res.text();
    const body = JSON.parse(text) as Problem & { errorCount?: number };
    expectProblem(res, body, 400, 'VALIDATION_FAILED');
    expect(body.errors).toHaveLength(20);
    expect(body.errorCount).toBe(20_000);
    expect(text.length).toBeLessThan(8_000);
  });

  it('a 200 KB property name is clipped in the problem', async () => {
    const res = await fetch(`${srv.url}/v1/groups`, {
      method: 'POST',
      headers: { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x', folder: 'long', ['k'.repeat(200_000)]: 1 }),
    });
    const text = await res.text();
    expectProblem(res, JSON.parse(text), 400, 'VALIDATION_FAILED');
    expect(text.length).toBeLessThan(4_000);
  });

  it('the same Idempotency-Key with another body is 422 IDEMPOTENCY_KEY_REUSED; the first message stays', async () => {
    const url = `/v1/sessions/${session.id}/messages`;
    const headers = { 'idempotency-key': 'reuse-1' };
    const first = await call<Message>(srv, 'POST', url, { json: { text: 'pay alice 5' }, headers });
    expect(first.res.status).toBe(202);
    const other = await call<Problem>(srv, 'POST', url, { json: { text: 'pay mallory 500' }, headers });
    expectProblem(other.res, other.body, 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(other.body.detail).toContain(first.body.id);
    const again = await call<Message>(srv, 'POST', url, { json: { text: 'pay alice 5' }, headers });
    expect(again.res.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    const listed = await call<{ items: Message[] }>(srv, 'GET', `${url}?after=0`);
    expect(listed.body.items.filter((m) => m.idempotencyKey === 'reuse-1').map((m) => m.text)).toEqual([
      'pay alice 5',
    ]);
  });

  it('readyz tells anonymous callers only ok/not ok; the token holder gets the details', async () => {
    const anonymous = await call<Readiness>(srv, 'GET', '/readyz', { headers: { authorization: '' } });
    const wrong = await call<Readiness>(srv, 'GET', '/readyz', { headers: { authorization: 'Bearer nope' } });
    for (const { body } of [anonymous, wrong]) {
      expect(Object.keys(body.checks).sort()).toEqual([
        'database',
        'image',
        'modelCredential',
        'network',
        'proxy',
        'runtime',
      ]);
      for (const check of Object.values(body.checks)) expect(Object.keys(check)).toEqual(['ok']);
    }
    const full = await call<Readiness>(srv, 'GET', '/readyz');
    expect(full.body.checks.runtime?.detail).toMatch(/install/i);
  });
});
