import { networkInterfaces } from 'node:os';

/** The bridge gateway address: as reported, else the bridge interface's IPv4 address, else the subnet's first host. */
export function gatewayOf(info: { gateway?: string; iface?: string; subnet?: string }): string | undefined {
  return info.gateway ?? interfaceAddress(info.iface) ?? firstHost(info.subnet);
}

function interfaceAddress(name: string | undefined): string | undefined {
  if (!name) return undefined;
  return networkInterfaces()[name]?.find((a) => a.family === 'IPv4')?.address;
}

/** Docker gives its default bridge the subnet's first host address when IPAM lists no gateway. */
function firstHost(subnet: string | undefined): string | undefined {
  const match = subnet?.match(/^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/);
  if (!match) return undefined;
  const n = match.slice(1, 5).reduce((acc, part) => acc * 256 + Number(part), 0);
  const prefix = Number(match[5]);
  if (prefix > 30) return undefined;
  const network = prefix === 0 ? 0 : n - (n % 2 ** (32 - prefix));
  const host = network + 1;
  return [24, 16, 8, 0].map((shift) => Math.floor(host / 2 ** shift) % 256).join('.');
}
