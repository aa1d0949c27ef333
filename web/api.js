// The console's calls to berth's API: bearer key from the tab's sessionStorage, problem+json errors.

const KEY = 'berth.apiKey';

export const storedKey = () => sessionStorage.getItem(KEY);
export const storeKey = (key) => sessionStorage.setItem(KEY, key);
export const forgetKey = () => sessionStorage.removeItem(KEY);

/** An API answer that was not a success; `code` is the problem's stable code. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem?.code ?? 'HTTP_ERROR';
  }
}

/** One API call; `json` becomes the body. Resolves to the parsed body (undefined for 204). */
export async function api(path, { method = 'GET', json, headers = {} } = {}) {
  const init = { method, headers: { authorization: `Bearer ${storedKey()}`, ...headers } };
  if (json !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(json);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  if (!res.ok) throw new ApiError(res.status, problemOf(text));
  return text ? JSON.parse(text) : undefined;
}

/** The problem+json of a failed answer, or undefined when it is not JSON (a proxy's error page). */
export function problemOf(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Every item of a paged list (bounded: at most 20 pages). */
export async function all(path) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < 20; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api(`${path}${sep}limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...page.items);
    cursor = page.nextCursor;
    if (!cursor) break;
  }
  return items;
}

/** A random Idempotency-Key (getRandomValues works outside secure contexts too, unlike randomUUID). */
export function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * Opens a berth WebSocket. Browsers cannot set an Authorization header on a WebSocket, so the key
 * travels as a subprotocol; berth.v1 must be offered too, because berth selects only that one (it
 * never echoes the key) and a browser fails a handshake that selects none of its offers.
 */
export function openSocket(path) {
  const key = storedKey() ?? '';
  // new WebSocket throws on a subprotocol that is not an RFC 7230 token; say why instead of breaking the view.
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(key))
    throw new Error(
      'this key has characters a browser WebSocket cannot carry: live views need a key from POST /v1/keys',
    );
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return new WebSocket(`${scheme}//${location.host}${path}`, ['berth.v1', `bearer.${key}`]);
}
