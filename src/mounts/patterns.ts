/** Names that hold credentials or keys; matched case-insensitively on whole path components. */
export const BUILTIN_BLOCKED_PATTERNS: readonly string[] = [
  '.ssh',
  '.gnupg',
  '.aws',
  '.azure',
  '.gcloud',
  '.config/gcloud',
  '.config/gh',
  '.kube',
  '.docker',
  '.password-store',
  '.env',
  '.env.*',
  '.netrc',
  '.npmrc',
  '.pypirc',
  '.pgpass',
  '.git-credentials',
  '.vault-token',
  'credentials',
  'credentials.json',
  'id_rsa',
  'id_dsa',
  'id_ecdsa',
  'id_ed25519',
  'private_key',
  '*.pem',
  '*.key',
  '*.p12',
  '*.pfx',
];

export interface BlockedPattern {
  pattern: string;
  parts: RegExp[];
}

function globPart(part: string): RegExp {
  const body = [...part]
    .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, 'iu');
}

/** Compiles `a/b` or `*.pem` style patterns (`*` and `?` stay inside one component); throws on bad input. */
export function compilePattern(pattern: string): BlockedPattern {
  if (typeof pattern !== 'string' || pattern.trim() === '') throw new Error('a blocked pattern is empty');
  const parts = pattern
    .normalize('NFC')
    .replace(/^\/+|\/+$/g, '')
    .split('/');
  for (const part of parts)
    if (part === '' || part === '.' || part === '..')
      throw new Error(`blocked pattern ${JSON.stringify(pattern)} has an empty, "." or ".." component`);
  return { pattern, parts: parts.map(globPart) };
}

/** The first pattern that matches a run of consecutive whole components, or undefined. */
export function matchBlocked(parts: string[], patterns: BlockedPattern[]): string | undefined {
  const names = parts.map((p) => p.normalize('NFC'));
  for (const { pattern, parts: re } of patterns) {
    for (let i = 0; i + re.length <= names.length; i++) {
      if (re.every((r, j) => r.test(names[i + j]!))) return pattern;
    }
  }
  return undefined;
}
