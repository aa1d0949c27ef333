import http from 'node:http';
import net from 'node:net';
import process from 'node:process';
import { errorCode } from './turn.ts';

// Network probes for echo mode's test hooks: what can this container reach?

const PROBE_MS = 3000;

/** `!tcp HOST PORT`: `connected`, or the error code of the attempt. */
export function tcpProbe(args: string): Promise<string> {
  const [host, port] = args.trim().split(/\s+/);
  return new Promise((resolve) => {
    const socket = net.connect({ host: host!, port: Number(port) });
    socket.setTimeout(PROBE_MS, () => {
      socket.destroy();
      resolve('ETIMEDOUT');
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err) => resolve(errorCode(err)));
  });
}

function proxyFor(url: URL): URL | undefined {
  const raw = process.env.HTTP_PROXY || process.env.http_proxy;
  const skip = (process.env.NO_PROXY || process.env.no_proxy || '').split(',').map((s) => s.trim());
  return raw && !skip.includes(url.hostname) ? new URL(raw) : undefined;
}

/** `!http URL`: a GET the way curl does it, through HTTP_PROXY when set; `STATUS\nBODY` or `ERR code`. */
export function httpProbe(args: string): Promise<string> {
  const url = new URL(args.trim());
  const proxy = proxyFor(url);
  return new Promise((resolve) => {
    const req = http.get(
      proxy
        ? { host: proxy.hostname, port: proxy.port, path: url.href, headers: { host: url.host } }
        : { host: url.hostname, port: url.port || 80, path: `${url.pathname}${url.search}` },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve(`${res.statusCode}\n${body}`));
      },
    );
    req.setTimeout(PROBE_MS, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => resolve(`ERR ${errorCode(err)}`));
  });
}

/** `!tunnel HOST:PORT TEXT`: CONNECT through HTTPS_PROXY, send TEXT, return the reply head and what came back. */
export function tunnelProbe(args: string): Promise<string> {
  const [authority, ...rest] = args.trim().split(/\s+/);
  const raw = process.env.HTTPS_PROXY || process.env.https_proxy;
  if (!raw) return Promise.resolve('ERR no HTTPS_PROXY');
  const proxy = new URL(raw);
  return new Promise((resolve) => {
    const socket = net.connect({ host: proxy.hostname, port: Number(proxy.port) });
    let got = '';
    let sent = false;
    socket.setEncoding('utf8');
    socket.setTimeout(PROBE_MS, () => socket.destroy());
    socket.once('connect', () => socket.write(`CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n\r\n`));
    socket.on('data', (chunk: string) => {
      got += chunk;
      if (!sent && got.startsWith('HTTP/1.1 200') && got.includes('\r\n\r\n')) {
        sent = true;
        socket.write(`${rest.join(' ')}\n`);
      }
    });
    socket.on('error', (err) => {
      got += `ERR ${errorCode(err)}`;
    });
    socket.on('close', () => resolve(got));
  });
}
