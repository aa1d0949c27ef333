import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from '../http/api.d.ts';
import type { CliConfig } from './config.ts';
import { CliError, EXIT } from './errors.ts';

export type Api = Client<paths>;
export type Problem = components['schemas']['Problem'];

export function apiClient(config: CliConfig): Api {
  return createClient<paths>({
    baseUrl: config.url,
    headers: config.token ? { authorization: `Bearer ${config.token}` } : {},
  });
}

/** The exit code an HTTP status maps to: not found, auth, or any other server error. */
export function exitCodeFor(status: number): number {
  if (status === 404) return EXIT.notFound;
  if (status === 401 || status === 403) return EXIT.auth;
  return EXIT.server;
}

/** `code: detail`, plus each validation problem on its own line. */
export function describeProblem(body: unknown, status: number): string {
  const p = (body && typeof body === 'object' ? body : {}) as Partial<Problem>;
  if (!p.code) return `HTTP ${status}${typeof body === 'string' && body ? `: ${body}` : ''}`;
  const head = `${p.code}: ${p.detail ?? p.title ?? `HTTP ${status}`}`;
  const lines = (p.errors ?? []).map((e) => `  ${e.path || '(body)'}: ${e.message}`);
  return [head, ...lines].join('\n');
}

/** A refused connection, DNS failure or reset: the server is not answering at all. */
export function unreachable(err: unknown, url: string): CliError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (err as Error).message;
  return new CliError(
    EXIT.unreachable,
    `cannot reach berth at ${url} (${why}): start it with \`npm start\`, or point BERTH_URL / --url at it`,
  );
}

/**
 * Runs one openapi-fetch call and hands back its data, turning a problem+json answer into a
 * CliError (`code: detail`) and a network failure into "unreachable".
 */
export async function call<T>(
  url: string,
  request: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: Awaited<typeof request>;
  try {
    result = await request;
  } catch (err) {
    throw unreachable(err, url);
  }
  const { data, error, response } = result;
  if (!response.ok) {
    let message = describeProblem(error, response.status);
    if (response.status === 401) message += '\n(set BERTH_TOKEN or --token to a valid API key)';
    throw new CliError(exitCodeFor(response.status), message);
  }
  return data as T;
}
