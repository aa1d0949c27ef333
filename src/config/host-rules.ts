import { isIP } from 'node:net';

/** One allowlist entry: an exact host or a `*.suffix` wildcard, with an optional port. */
export interface HostRule {
  /** Lower case, no trailing dot; for wildcards the suffix without `*.`. */
  host: string;
  wildcard: boolean;
  /** Absent: the HTTP and HTTPS defaults, 80 and 443. */
  port?: number;
  /** The entry as written, for messages. */
  text: string;
}

const LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?';
const NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const DEFAULT_PORTS = [80, 443];

/** Lower case without a trailing dot or IPv6 brackets; what rules are matched against. */
export function normalHost(host: string): string {
  return host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
}

/** Parses `example.com`, `*.example.com`, `example.com:8443`; returns an error string when invalid. */
export function parseHostRule(entry: string): HostRule | string {
  const text = entry.trim();
  const m = /^(\*\.)?([^:*\s]+)(?::(\d{1,5}))?$/.exec(text);
  if (!m) return `"${entry}" is not a host name, *.suffix or host:port`;
  const host = normalHost(m[2]!);
  if (!NAME.test(host) && isIP(host) === 0) return `"${entry}" is not a valid host name`;
  if (m[1] && isIP(host) !== 0) return `"${entry}": a wildcard needs a name suffix, not an address`;
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && (port < 1 || port > 65535)) return `"${entry}": port must be 1-65535`;
  return { host, wildcard: Boolean(m[1]), ...(port !== undefined ? { port } : {}), text };
}

/** Parses a list, throwing one error naming every bad entry. */
export function parseHostRules(entries: readonly string[]): HostRule[] {
  const out: HostRule[] = [];
  const bad: string[] = [];
  for (const entry of entries) {
    const rule = parseHostRule(entry);
    if (typeof rule === 'string') bad.push(rule);
    else out.push(rule);
  }
  if (bad.length > 0) throw new TypeError(bad.join('; '));
  return out;
}

export function ruleMatches(rule: HostRule, host: string, port: number): boolean {
  const h = normalHost(host);
  if (rule.port !== undefined ? rule.port !== port : !DEFAULT_PORTS.includes(port)) return false;
  // `*.example.com` matches names below example.com, never example.com itself.
  return rule.wildcard ? h.endsWith(`.${rule.host}`) : h === rule.host;
}

/** Allowed when some rule of every list matches: a group list narrows the global one, never widens it. */
export function allowedBy(lists: readonly (readonly HostRule[])[], host: string, port: number): boolean {
  return lists.every((rules) => rules.some((rule) => ruleMatches(rule, host, port)));
}
