import type { ServerResponse } from 'node:http';

/** Anthropic's error shape, so clients show a sensible message. */
export function fail(res: ServerResponse, status: number, type: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ type: 'error', error: { type, message } });
  // Closing skips reading whatever body the client still sends.
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
  });
  res.end(body);
}
