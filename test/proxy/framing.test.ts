import { randomBytes } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CredentialProxy, createCredentialProxy } from '../../src/proxy/credential-proxy.ts';
import { createCredentialSource } from '../../src/proxy/credentials.ts';

const REAL_KEY = `sk-ant-api03-real-${randomBytes(8).toString('hex')}`;

interface Parsed {
  connection: number;
  requestLine: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * An upstream that parses HTTP/1.1 by hand from the raw bytes, so the test sees exactly the requests
 * an upstream would see on each connection, smuggled ones included.
 */
async function startRawUpstream() {
  const parsed: Parsed[] = [];
  let connections = 0;
  const open = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const connection = ++connections;
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end === -1) return;
        const [requestLine = '', ...lines] = buffer.subarray(0, end).toString('latin1').split('\r\n');
        const headers: Record<string, string> = {};
        for (const line of lines) {
          const colon = line.indexOf(':');
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        let rest = buffer.subarray(end + 4);
        let body = '';
        if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
          const chunks: Buffer[] = [];
          for (;;) {
            const lineEnd = rest.indexOf('\r\n');
            if (lineEnd === -1) return;
            const size = Number.parseInt(rest.subarray(0, lineEnd).toString(), 16);
            if (rest.length < lineEnd + 2 + size + 2) return;
            chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
            rest = rest.subarray(lineEnd + 2 + size + 2);
            if (size === 0) break;
          }
          body = Buffer.concat(chunks).toString('latin1');
        } else if (headers['content-length']) {
          const size = Number(headers['content-length']);
          if (rest.length < size) return;
          body = rest.subarray(0, size).toString('latin1');
          rest = rest.subarray(size);
        }
        buffer = rest;
        parsed.push({ connection, requestLine, headers, body });
        const reply = JSON.stringify({ saw: requestLine });
        socket.write(
          `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${reply.length}\r\n\r\n${reply}`,
        );
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    parsed,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
}

/** The answer is complete once its headers and Content-Length body have arrived. */
function complete(answer: string): boolean {
  const end = answer.indexOf('\r\n\r\n');
  if (end === -1) return false;
  const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(answer.slice(0, end))?.[1] ?? 0);
  return answer.length - (end + 4) >= length;
}

/** Sends raw bytes to the proxy and collects its first answer (or whatever came before it closed). */
async function raw(port: number, bytes: string, waitMs = 10_000): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  let answer = '';
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  socket.on('data', (c: Buffer) => {
    answer += c.toString('latin1');
    if (complete(answer)) done();
  });
  socket.on('close', () => done());
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(bytes);
  await Promise.race([finished, sleep(waitMs)]);
  socket.destroy();
  return answer;
}

const status = (answer: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);

let upstream: Awaited<ReturnType<typeof startRawUpstream>>;
let proxy: CredentialProxy;
let credentials: ReturnType<typeof createCredentialSource>;

beforeAll(async () => {
  upstream = await startRawUpstream();
  credentials = createCredentialSource({ apiKey: REAL_KEY });
  proxy = await createCredentialProxy({
    host: '127.0.0.1',
    port: 0,
    upstream: upstream.url,
    maxBodyBytes: 1024 * 1024,
    credentials,
  });
});

afterAll(async () => {
  await proxy.close();
  credentials.close();
  await upstream.close();
});

/** After the attack, a victim session sends an ordinary request; it must arrive alone and intact. */
async function victimFollows(attackerToken: string, attack: string) {
  const victim = proxy.issue('victim');
  const before = upstream.parsed.length;
  const attackAnswer = await raw(proxy.address.port, attack.replaceAll('TOKEN', attackerToken));
  const victimAnswer = await raw(
    proxy.address.port,
    `POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: ${victim.token}\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`,
  );
  await sleep(50);
  proxy.revoke(victim.token);
  return { attackAnswer, victimAnswer, seen: upstream.parsed.slice(before) };
}

const smuggled = 'GET /attacker-chosen-path HTTP/1.1\r\nX-Ignore: ';
const chunk = (text: string) => `${text.length.toString(16)}\r\n${text}\r\n0\r\n\r\n`;

describe('credential proxy request framing', () => {
  for (const method of ['GET', 'DELETE', 'OPTIONS', 'HEAD']) {
    it(`refuses a chunked body on ${method} instead of forwarding it unframed`, async () => {
      const attacker = proxy.issue(`attacker-${method}`);
      const { attackAnswer, victimAnswer, seen } = await victimFollows(
        attacker.token,
        `${method} /v1/x HTTP/1.1\r\nhost: x\r\nx-api-key: TOKEN\r\ntransfer-encoding: chunked\r\n\r\n${chunk(smuggled)}`,
      );
      expect([400, 405]).toContain(status(attackAnswer));
      expect(status(victimAnswer)).toBe(200);
      expect(victimAnswer).toContain('"saw":"POST /v1/messages HTTP/1.1"');
      expect(seen.map((r) => r.requestLine)).toEqual(['POST /v1/messages HTTP/1.1']);
      expect(seen[0]!.body).toBe('{}');
    });
  }

  it('refuses a smuggled POST that would capture the next request into its body', async () => {
    const attacker = proxy.issue('attacker-capture');
    const capture = 'POST /v1/files HTTP/1.1\r\nhost: x\r\ncontent-length: 400\r\n\r\nleak=';
    const { seen } = await victimFollows(
      attacker.token,
      `GET /v1/x HTTP/1.1\r\nhost: x\r\nx-api-key: TOKEN\r\ntransfer-encoding: chunked\r\n\r\n${chunk(capture)}`,
    );
    expect(seen.map((r) => r.requestLine)).toEqual(['POST /v1/messages HTTP/1.1']);
    expect(seen.some((r) => r.body.includes(REAL_KEY))).toBe(false);
  });

  const variants: Record<string, string> = {
    'CL.TE': `POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: TOKEN\r\ncontent-length: 6\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nG`,
    'TE.CL': `POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: TOKEN\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n${chunk(smuggled)}`,
    'TE.TE (obfuscated second header)': `POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: TOKEN\r\ntransfer-encoding: chunked\r\ntransfer-encoding: x\r\n\r\n${chunk(smuggled)}`,
    'TE.TE (identity first)': `POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: TOKEN\r\ntransfer-encoding: identity, chunked\r\n\r\n${chunk(smuggled)}`,
    'TE with trailing junk': `POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: TOKEN\r\ntransfer-encoding: xchunked\r\n\r\n${chunk(smuggled)}`,
    'two Content-Lengths': `POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: TOKEN\r\ncontent-length: 2\r\ncontent-length: 60\r\n\r\n{}${smuggled}`,
  };
  for (const [name, attack] of Object.entries(variants)) {
    it(`${name}: no request other than the victim's reaches the upstream`, async () => {
      const attacker = proxy.issue(`attacker-${name}`);
      const { attackAnswer, seen } = await victimFollows(attacker.token, attack);
      expect(status(attackAnswer)).toBe(400);
      expect(seen.map((r) => r.requestLine)).toEqual(['POST /v1/messages HTTP/1.1']);
      expect(seen[0]!.body).toBe('{}');
    });
  }

  it('re-frames a chunked POST body explicitly and never shares an upstream connection across sessions', async () => {
    const a = proxy.issue('frame-a');
    const b = proxy.issue('frame-b');
    const before = upstream.parsed.length;
    const post = (token: string) =>
      raw(
        proxy.address.port,
        `POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: ${token}\r\ntransfer-encoding: chunked\r\n\r\n${chunk('{"a":1}')}`,
      );
    for (const token of [a.token, b.token, a.token, b.token]) expect(status(await post(token))).toBe(200);
    const seen = upstream.parsed.slice(before);
    expect(seen.map((r) => [r.headers['transfer-encoding'], r.body])).toEqual(
      Array(4).fill(['chunked', '{"a":1}']),
    );
    const connectionsOf = (i: number[]) => new Set(i.map((n) => seen[n]!.connection));
    const ofA = connectionsOf([0, 2]);
    for (const c of connectionsOf([1, 3])) expect(ofA.has(c)).toBe(false);
    proxy.revoke(a.token);
    proxy.revoke(b.token);
  });

  it('refuses dot segments, encoded or not, and methods the model API does not use', async () => {
    const grant = proxy.issue('paths');
    const before = upstream.parsed.length;
    const ask = (line: string) =>
      raw(proxy.address.port, `${line} HTTP/1.1\r\nhost: x\r\nx-api-key: ${grant.token}\r\n\r\n`).then(
        status,
      );
    expect(await ask('GET /../admin/keys')).toBe(400);
    expect(await ask('GET /v1/%2e%2e/admin')).toBe(400);
    expect(await ask('GET /v1/.%2E/admin')).toBe(400);
    expect(await ask('GET /v1/a%2f..%2fb')).toBe(400);
    expect(await ask('TRACE /v1/messages')).toBe(405);
    expect(await ask('PUT /v1/messages')).toBe(405);
    expect(await ask('GET /v1/models?after=..')).toBe(200);
    expect(upstream.parsed.slice(before).map((r) => r.requestLine)).toEqual([
      'GET /v1/models?after=.. HTTP/1.1',
    ]);
    proxy.revoke(grant.token);
  });
});
