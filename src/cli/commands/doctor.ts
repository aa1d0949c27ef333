import type { components } from '../../http/api.d.ts';
import { describeProblem } from '../client.ts';
import type { Command, Context } from '../command.ts';
import { isLoopback } from '../config.ts';
import { EXIT } from '../errors.ts';
import { FIXES, type Finding, report } from './doctor-report.ts';

type Readiness = components['schemas']['Readiness'];
type Check = components['schemas']['Check'];

const TOKEN_FIX =
  'export BERTH_TOKEN=$(cat data/api-token) in the directory berth runs from, or pass --token';

/** Whether berth answers at all; the network error's code when not. */
async function reach(ctx: Context): Promise<string | undefined> {
  try {
    await ctx.api.GET('/healthz');
    return undefined;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return cause?.code ?? (err as Error).message;
  }
}

async function tokenFinding(ctx: Context): Promise<Finding> {
  const { tokenSource } = ctx.config;
  if (tokenSource === 'none')
    return { name: 'token', ok: false, detail: 'no API token given', fix: TOKEN_FIX };
  const { response, error } = await ctx.api.GET('/v1/groups', { params: { query: { limit: 1 } } });
  if (response.ok) return { name: 'token', ok: true, detail: `accepted (from ${tokenSource})` };
  return {
    name: 'token',
    ok: false,
    detail: `refused (from ${tokenSource}): ${describeProblem(error, response.status)}`,
    fix: TOKEN_FIX,
  };
}

/** /readyz answers its checks with 200 or 503; each becomes a finding with its fix. */
async function readiness(ctx: Context): Promise<Finding[]> {
  const { data, error, response } = await ctx.api.GET('/readyz');
  const body = (data ?? error) as Readiness | undefined;
  if (!body?.checks)
    return [{ name: 'readiness', ok: false, detail: describeProblem(error, response.status) }];
  const checks: Record<string, Check> = body.checks;
  const findings = Object.entries(checks).map(([name, c]): Finding => {
    const f: Finding = { name, ok: c.ok, detail: c.detail ?? (c.ok ? 'ok' : 'failed') };
    if (!c.ok) f.fix = FIXES[name] ?? "see the detail and berth's log";
    if (c.warning) f.warning = c.warning;
    return f;
  });
  return findings;
}

/** For a server not yet started: whether this shell would give it a model credential. */
function credentialFinding(found: string | undefined): Finding {
  if (found === 'echo')
    return { name: 'local credentials', ok: true, detail: 'none needed (BERTH_AGENT=echo)' };
  if (found) return { name: 'local credentials', ok: true, detail: `${found} is set in this shell` };
  return {
    name: 'local credentials',
    ok: false,
    detail: 'no ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN or BERTH_CREDENTIALS_FILE in this shell',
    fix: FIXES.modelCredential!,
  };
}

const doctor: Command = {
  name: 'doctor',
  usage: '',
  summary: 'Check that berth can run sessions: server, token, database, runtime, image, proxy, credentials.',
  details: [
    "Asks the server's /readyz and, for a server on this machine that is down or lacks a runtime or",
    'image, checks PATH for podman/docker and the agent image (BERTH_IMAGE, default berth-agent:latest).',
    'Each missing piece is named with the command that fixes it.',
    'Exit 0 when everything is ready, 1 when something is missing, 5 when the server does not answer.',
  ],
  arity: [0, 0],
  async run(ctx) {
    const { url } = ctx.config;
    const local = isLoopback(url);
    const down = await reach(ctx);
    const findings: Finding[] = [];
    if (down) {
      findings.push({
        name: 'server',
        ok: false,
        detail: `not answering at ${url} (${down})`,
        fix: local ? 'start it: npm start' : 'check BERTH_URL / --url and that berth runs there',
      });
    } else {
      findings.push({ name: 'server', ok: true, detail: url });
      findings.push(await tokenFinding(ctx));
      findings.push(...(await readiness(ctx)));
    }
    const failed = (name: string) => findings.some((f) => f.name === name && f.ok === false);
    if (local && (down || failed('runtime') || failed('image'))) {
      // Loaded on demand: execa costs every other command's start-up time.
      const { localChecks } = await import('./doctor-local.ts');
      findings.push(...(await localChecks(ctx.config.searchPath, ctx.config.image)));
    }
    if (local && down) findings.push(credentialFinding(ctx.config.localCredential));
    report(findings, ctx.json);
    if (down) return EXIT.unreachable;
    return findings.some((f) => f.ok === false) ? EXIT.server : EXIT.ok;
  },
};

export const doctorCommands: Command[] = [doctor];
