import { readFileSync } from 'node:fs';

// os.networkInterfaces() skips interfaces without carrier (docker0 with no container running),
// so local addresses on Linux are also read from the kernel's routing tables.

const read = (file: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    // No procfs (not Linux, or a sandbox): no extra addresses beyond os.networkInterfaces().
    return '';
  }
};

/** IPv4 addresses the kernel treats as local ("/32 host LOCAL" leaves of /proc/net/fib_trie). */
export function parseFibTrieLocal(text: string): string[] {
  const found = new Set<string>();
  let leaf: string | undefined;
  for (const line of text.split('\n')) {
    const ip = /\|--\s+(\d+\.\d+\.\d+\.\d+)/.exec(line)?.[1];
    if (ip) leaf = ip;
    else if (leaf && /\/32 host LOCAL/.test(line)) found.add(leaf);
  }
  return [...found];
}

const fromHex = (hex: string): number => Number.parseInt(hex.match(/../g)!.reverse().join(''), 16) >>> 0;
const toInt = (ip: string): number =>
  ip.split('.').reduce((acc, part) => ((acc << 8) | Number(part)) >>> 0, 0);

/** The local address inside the subnet routed to `iface` (from /proc/net/route), e.g. docker0 → 172.17.0.1. */
export function interfaceAddress(routes: string, local: string[], iface: string): string | undefined {
  for (const line of routes.split('\n').slice(1)) {
    const [name, dest, , , , , , mask] = line.trim().split(/\s+/);
    if (name !== iface || !dest || !mask || !/^[0-9A-Fa-f]{8}$/.test(dest) || !/^[0-9A-Fa-f]{8}$/.test(mask))
      continue;
    const net = fromHex(dest);
    const bits = fromHex(mask);
    if (bits === 0) continue;
    const match = local.find((ip) => (toInt(ip) & bits) >>> 0 === net && !ip.startsWith('127.'));
    if (match) return match;
  }
  return undefined;
}

export interface LinuxAddresses {
  local: string[];
  byInterface(name: string): string | undefined;
}

export function readLinuxAddresses(procNet = '/proc/net'): LinuxAddresses {
  const local = parseFibTrieLocal(read(`${procNet}/fib_trie`));
  const routes = read(`${procNet}/route`);
  return { local, byInterface: (name) => interfaceAddress(routes, local, name) };
}
