import { ValidationError } from '../errors.ts';

export interface PackageRequest {
  apt: string[];
  npm: string[];
}

const MAX_PACKAGES = 32;

// Debian policy names, bounded; a leading letter or digit keeps them from reading as options.
const APT_NAME = /^[a-z0-9][a-z0-9+.-]{1,62}$/;
// npm names (optionally scoped) with an optional exact semver version: no ranges, tags, URLs, paths or git.
const NPM_NAME = '(?:@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*';
const SEMVER =
  '(?:0|[1-9]\\d*)\\.(?:0|[1-9]\\d*)\\.(?:0|[1-9]\\d*)(?:-[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?(?:\\+[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?';
const NPM_SPEC = new RegExp(`^${NPM_NAME}(?:@${SEMVER})?$`);
const NPM_MAX = 214;

type Issue = { path: string; message: string; code: string };

function check(list: string[], kind: 'apt' | 'npm', issues: Issue[]): void {
  if (list.length > MAX_PACKAGES)
    issues.push({ path: `body/${kind}`, message: `at most ${MAX_PACKAGES} entries`, code: 'maxItems' });
  list.forEach((name, i) => {
    const ok =
      kind === 'apt'
        ? APT_NAME.test(name)
        : NPM_SPEC.test(name) && name.replace(/(?<=.)@[^@]*$/, '').length <= NPM_MAX;
    if (!ok)
      issues.push({
        path: `body/${kind}/${i}`,
        message:
          kind === 'apt'
            ? `"${name.slice(0, 80)}" is not a Debian package name (^[a-z0-9][a-z0-9+.-]{1,62}$)`
            : `"${name.slice(0, 80)}" is not an npm package name with an optional exact version (name or name@1.2.3)`,
        code: 'package',
      });
  });
}

/** Checks every name before anything runs; throws one ValidationError listing each bad entry. */
export function validatePackages(input: Partial<PackageRequest>): PackageRequest {
  const apt = input.apt ?? [];
  const npm = input.npm ?? [];
  const issues: Issue[] = [];
  if (apt.length === 0 && npm.length === 0)
    issues.push({ path: 'body', message: 'name at least one apt or npm package', code: 'empty' });
  check(apt, 'apt', issues);
  check(npm, 'npm', issues);
  if (issues.length > 0)
    throw new ValidationError(
      `packages are invalid: ${issues.map((e) => `${e.path} ${e.message}`).join('; ')}`,
      issues,
    );
  return { apt: [...new Set(apt)].sort(), npm: [...new Set(npm)].sort() };
}
