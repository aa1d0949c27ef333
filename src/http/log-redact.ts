import type { FastifyRequest } from 'fastify';

// Query parameters that carry a secret (the WebSocket `access_token` fallback).
const SECRET_PARAMS = /([?&](?:access_token|token|api_key)=)[^&#]*/gi;

/** A URL fit for a log line: secret query values replaced. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_PARAMS, '$1[redacted]');
}

/** Fastify's request log fields, with secrets in the query redacted; headers are never logged. */
export function requestSerializer(req: FastifyRequest) {
  return {
    method: req.method,
    url: redactUrl(req.url),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/** Paths pino censors wherever a header bag is logged (for example an error carrying a request). */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers["sec-websocket-protocol"]',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["sec-websocket-protocol"]',
  '*.headers.authorization',
  '*.headers["x-api-key"]',
  '*.headers["sec-websocket-protocol"]',
];
