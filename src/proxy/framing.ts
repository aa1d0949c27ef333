import type { IncomingMessage } from 'node:http';

/** The methods the Messages API uses; anything else (TRACE, CONNECT, PUT…) never reaches the upstream. */
const FORWARDED_METHODS = new Set(['GET', 'HEAD', 'POST', 'DELETE']);
const BODY_METHODS = new Set(['POST']);

export interface CheckedRequest {
  /** Path and query, confined below the upstream's base path. */
  path: string;
  /** How the body is framed upstream: an exact byte count, or chunked as the client sent it. */
  framing: number | 'chunked';
}

export interface ForwardTarget extends CheckedRequest {
  token: string;
}

function dotSegment(segment: string): boolean {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    // Undecodable escapes are refused like a dot segment rather than guessed at.
    return true;
  }
  return decoded === '.' || decoded === '..' || decoded.includes('/') || decoded.includes('\\');
}

/** Confines the request target to a plain origin-form path without dot segments or control bytes. */
function checkPath(url: string | undefined): string | undefined {
  if (!url?.startsWith('/')) return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control bytes are what is refused here
  if (/[\u0000-\u0020\u007f\\#]/.test(url)) return undefined;
  const query = url.indexOf('?');
  const pathname = query === -1 ? url : url.slice(0, query);
  if (pathname.split('/').some(dotSegment)) return undefined;
  return url;
}

/**
 * Decides whether a request can be forwarded with framing the upstream will parse exactly as berth
 * did; returns the reason as a string when it cannot. Node's parser already refuses a request with
 * both Content-Length and Transfer-Encoding, or a Transfer-Encoding that does not end in chunked;
 * these checks hold even if a lenient parser is ever configured.
 */
export function checkRequest(req: IncomingMessage): CheckedRequest | string {
  const method = req.method ?? '';
  if (!FORWARDED_METHODS.has(method)) return `method ${method} is not forwarded to the model API`;
  const path = checkPath(req.url);
  if (!path) return 'request target must be a plain path without dot segments';
  const rawTe = req.headers['transfer-encoding'];
  const rawLength = req.headers['content-length'];
  if (rawTe !== undefined && rawLength !== undefined) {
    return 'a request may not carry both Content-Length and Transfer-Encoding';
  }
  let framing: number | 'chunked';
  if (rawTe !== undefined) {
    if (rawTe.trim().toLowerCase() !== 'chunked') return 'only Transfer-Encoding: chunked is accepted';
    framing = 'chunked';
  } else if (rawLength !== undefined) {
    if (!/^\d{1,15}$/.test(rawLength)) return 'Content-Length must be one decimal number';
    framing = Number(rawLength);
  } else {
    framing = 0;
  }
  if (!BODY_METHODS.has(method) && framing !== 0) return `a ${method} request may not carry a body`;
  return { path, framing };
}
