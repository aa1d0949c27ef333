import { fields, print, printJson } from '../output.ts';

/** One line of doctor's report: what was checked, whether it is fine, and how to fix it if not. */
export interface Finding {
  name: string;
  /** `undefined`: not checked (e.g. the server does not report it). */
  ok: boolean | undefined;
  detail: string;
  fix?: string;
  warning?: string;
}

/** How to fix each readiness check the server reports, by its name in /readyz. */
export const FIXES: Record<string, string> = {
  database:
    'check DATABASE_URL and that PostgreSQL answers (pg_isready -d "$DATABASE_URL"); unset it to use the embedded PGlite',
  runtime:
    'install podman (apt-get install podman) or docker (apt-get install docker.io) so that `podman version` answers, or set BERTH_RUNTIME',
  image: 'build the agent image: npm run image (or set BERTH_IMAGE to an image the runtime has)',
  proxy: "the credential proxy is not running: check BERTH_PROXY_HOST / BERTH_PROXY_PORT and berth's log",
  network: "see the detail and berth's log; BERTH_NETWORK_POLICY sets the default policy",
  modelCredential:
    "set ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN in berth's environment (or BERTH_CREDENTIALS_FILE) and restart berth",
};

const mark = (f: Finding) => (f.ok === undefined ? '?' : f.ok ? 'ok' : 'MISSING');

export function report(findings: Finding[], json: boolean): void {
  if (json) {
    printJson({ ok: findings.every((f) => f.ok !== false), checks: findings });
    return;
  }
  print(fields(findings.map((f) => [f.name, `${mark(f).padEnd(7)}  ${f.detail}`])));
  const warnings = findings.filter((f) => f.warning);
  for (const f of warnings) print(`\nwarning (${f.name}): ${f.warning}`);
  const missing = findings.filter((f) => f.ok === false);
  if (!missing.length) {
    print('\nberth is ready.');
    return;
  }
  print('\nTo fix:');
  for (const f of missing) print(`  ${f.name}: ${f.fix ?? "see the detail above and berth's log"}`);
}
