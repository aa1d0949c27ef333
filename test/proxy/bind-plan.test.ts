import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type os from 'node:os';
import { tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { describe, expect, it } from 'vitest';
import { isWildcardHost } from '../../src/config/parse.ts';
import {
  detectHostFacts,
  type HostFacts,
  isLoopbackHost,
  planProxyBind,
  proxyBaseUrl,
} from '../../src/proxy/bind-plan.ts';
import { interfaceAddress, parseFibTrieLocal, readLinuxAddresses } from '../../src/proxy/linux-addresses.ts';
import { needs } from '../support/needs.ts';

const linuxDocker: HostFacts = {
  runtime: 'docker',
  platform: 'linux',
  isWsl: false,
  bridgeGateway: '172.17.0.1',
  localAddresses: ['127.0.0.1', '::1', '192.168.1.20', '172.17.0.1'],
};
const noDocker0 = ['127.0.0.1', '::1', '192.168.1.20'];

const socket = { transport: 'socket', bindHost: '127.0.0.1' } as const;
const tcp = (bindHost: string, containerHost: string) =>
  ({ transport: 'tcp', bindHost, containerHost }) as const;

const cases: [string, HostFacts, ReturnType<typeof planProxyBind>][] = [
  ['linux docker, docker0 up: mounted socket', linuxDocker, socket],
  ['linux docker without docker0: still a socket', { ...linuxDocker, localAddresses: noDocker0 }, socket],
  ['linux podman: mounted socket', { ...linuxDocker, runtime: 'podman', bridgeGateway: '10.88.0.1' }, socket],
  [
    'WSL with Docker Desktop (no docker0 in the distro)',
    { ...linuxDocker, isWsl: true, localAddresses: noDocker0 },
    tcp('127.0.0.1', 'host.docker.internal'),
  ],
  ['WSL with a native dockerd (docker0 present)', { ...linuxDocker, isWsl: true }, socket],
  ['WSL podman', { ...linuxDocker, runtime: 'podman', isWsl: true, localAddresses: noDocker0 }, socket],
  [
    'macOS docker',
    { ...linuxDocker, platform: 'darwin', localAddresses: noDocker0 },
    tcp('127.0.0.1', 'host.docker.internal'),
  ],
  [
    'macOS podman machine',
    { ...linuxDocker, runtime: 'podman', platform: 'darwin', localAddresses: noDocker0 },
    tcp('127.0.0.1', 'host.containers.internal'),
  ],
  [
    'macOS Apple container: its vmnet gateway',
    {
      runtime: 'container',
      platform: 'darwin',
      isWsl: false,
      bridgeGateway: '192.168.64.1',
      localAddresses: ['127.0.0.1', '192.168.64.1'],
    },
    tcp('192.168.64.1', '192.168.64.1'),
  ],
  [
    'Windows Docker Desktop',
    { ...linuxDocker, platform: 'win32', localAddresses: noDocker0 },
    tcp('127.0.0.1', 'host.docker.internal'),
  ],
  [
    'override wins over detection on a VM runtime',
    { ...linuxDocker, platform: 'darwin', override: '10.9.0.1' },
    tcp('10.9.0.1', '10.9.0.1'),
  ],
  [
    'override moves the host-side listener of a socket plan',
    { ...linuxDocker, runtime: 'podman', override: '127.0.0.2' },
    { transport: 'socket', bindHost: '127.0.0.2' },
  ],
  ['override localhost with a socket plan', { ...linuxDocker, override: 'localhost' }, socket],
  [
    'override localhost on macOS',
    { ...linuxDocker, platform: 'darwin', override: 'localhost' },
    tcp('127.0.0.1', 'host.docker.internal'),
  ],
];

describe('planProxyBind', () => {
  it.each(cases)('%s', (_name, facts, plan) => {
    expect(planProxyBind(facts)).toEqual(plan);
  });

  const refusals: [string, HostFacts, RegExp][] = [
    [
      'WSL Docker Desktop override 0.0.0.0',
      { ...linuxDocker, isWsl: true, localAddresses: noDocker0, override: '0.0.0.0' },
      /every interface.*BERTH_PROXY_HOST to 127\.0\.0\.1/,
    ],
    ['override ::', { ...linuxDocker, override: '::' }, /every interface/],
    ['override [::]', { ...linuxDocker, platform: 'darwin', override: '[::]' }, /every interface/],
    [
      'override empty',
      { ...linuxDocker, platform: 'darwin', override: ' ' },
      /BERTH_PROXY_HOST to 127\.0\.0\.1/,
    ],
    ['override a hostname', { ...linuxDocker, override: 'proxy.example' }, /not an IP address/],
    [
      'a LAN override where containers use the socket',
      { ...linuxDocker, override: '192.168.1.20' },
      /must be a loopback address/,
    ],
    [
      'a loopback override for Apple container',
      { ...linuxDocker, runtime: 'container', platform: 'darwin', override: '127.0.0.1' },
      /cannot reach 127\.0\.0\.1/,
    ],
    [
      'Apple container with its gateway down',
      {
        runtime: 'container',
        platform: 'darwin',
        isWsl: false,
        bridgeGateway: '192.168.64.1',
        localAddresses: [],
      },
      /container network list/,
    ],
    ['Apple container off macOS', { ...linuxDocker, runtime: 'container' }, /macOS/],
  ];

  it.each(refusals)('fails closed: %s', (_name, facts, message) => {
    expect(() => planProxyBind(facts)).toThrow(expect.objectContaining({ code: 'PROXY_BIND_UNSAFE' }));
    expect(() => planProxyBind(facts)).toThrow(message);
  });

  it('never plans a wildcard or a LAN address', () => {
    const all = [...cases.map((c) => c[1]), ...refusals.map((r) => r[1])];
    for (const facts of all.filter((f) => f.override === undefined)) {
      try {
        const plan = planProxyBind(facts);
        expect(isWildcardHost(plan.bindHost)).toBe(false);
        expect(plan.bindHost).not.toBe('192.168.1.20');
      } catch (err) {
        expect(err).toMatchObject({ code: 'PROXY_BIND_UNSAFE' });
      }
    }
  });
});

describe('address helpers', () => {
  it('recognises wildcard and loopback spellings', () => {
    for (const h of ['', '0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0', '::ffff:0.0.0.0'])
      expect(isWildcardHost(h)).toBe(true);
    for (const h of ['127.0.0.1', '172.17.0.1', '::1', 'localhost']) expect(isWildcardHost(h)).toBe(false);
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1'])
      expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['10.0.2.2', '172.17.0.1', '::', 'example.com']) expect(isLoopbackHost(h)).toBe(false);
  });

  it('builds the container base URL', () => {
    expect(proxyBaseUrl('10.0.2.2', 4100)).toBe('http://10.0.2.2:4100');
    expect(proxyBaseUrl('fd00::1', 4100)).toBe('http://[fd00::1]:4100');
  });
});

describe('detectHostFacts', () => {
  it('reads this host: its interfaces and no WSL marker', () => {
    const facts = detectHostFacts({ runtime: 'podman' }, { wslMarkers: ['/nonexistent/WSLInterop'] });
    expect(facts.localAddresses).toContain('127.0.0.1');
    expect(facts.isWsl).toBe(false);
    expect(facts.platform).toBe(process.platform);
    expect(detectHostFacts({ runtime: 'docker', bridgeGateway: '10.1.0.1' }).bridgeGateway).toBe('10.1.0.1');
  });

  it.runIf(needs('the docker0 bridge', existsSync('/sys/class/net/docker0'), 'install and start Docker'))(
    'finds docker0 even without carrier (no container running)',
    () => {
      const facts = detectHostFacts({ runtime: 'docker' });
      expect(facts.bridgeGateway).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(facts.localAddresses).toContain(facts.bridgeGateway);
      // socketCapable() relies on it for a distro-local dockerd under WSL.
      expect(planProxyBind({ ...facts, isWsl: true }).transport).toBe('socket');
    },
  );

  it('detects WSL by its interop marker and takes docker0 as the default docker gateway', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'berth-wsl-'));
    try {
      const marker = path.join(dir, 'WSLInterop');
      writeFileSync(marker, 'enabled\n');
      const facts = detectHostFacts(
        { runtime: 'docker', override: '127.0.0.1' },
        {
          wslMarkers: [marker],
          platform: 'linux',
          linux: () => ({ local: ['127.0.0.1'], byInterface: () => undefined }),
          interfaces: () => ({
            lo: [{ address: '127.0.0.1', family: 'IPv4' } as os.NetworkInterfaceInfo],
            docker0: [{ address: '172.18.0.1', family: 'IPv4' } as os.NetworkInterfaceInfo],
          }),
        },
      );
      expect(facts).toEqual({
        runtime: 'docker',
        platform: 'linux',
        isWsl: true,
        override: '127.0.0.1',
        bridgeGateway: '172.18.0.1',
        localAddresses: ['127.0.0.1', '172.18.0.1'],
      });
      expect(planProxyBind({ ...facts, override: undefined })).toEqual({
        transport: 'socket',
        bindHost: '127.0.0.1',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a plan for this machine binds a real local address', () => {
    const facts = detectHostFacts({ runtime: 'podman' });
    const plan = planProxyBind(facts);
    expect(facts.localAddresses).toContain(plan.bindHost);
  });
});

describe('Linux kernel addresses', () => {
  const fibTrie = `Local:
  +-- 0.0.0.0/0 3 0 4
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 172.17.0.0/16 2 0 2
        +-- 172.17.0.0/31 1 0 0
           |-- 172.17.0.0
              /16 link UNICAST
           |-- 172.17.0.1
              /32 host LOCAL
     +-- 192.168.1.0/24 2 0 2
           |-- 192.168.1.20
              /32 host LOCAL
`;
  const routes = [
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
    'eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
    'docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0',
    'eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
  ].join('\n');

  it('reads local addresses, including those of interfaces without carrier', () => {
    const local = parseFibTrieLocal(fibTrie);
    expect(local).toEqual(['127.0.0.1', '172.17.0.1', '192.168.1.20']);
    expect(interfaceAddress(routes, local, 'docker0')).toBe('172.17.0.1');
    expect(interfaceAddress(routes, local, 'eth0')).toBe('192.168.1.20');
    expect(interfaceAddress(routes, local, 'podman0')).toBeUndefined();
  });

  it.runIf(process.platform === 'linux')('reads this host', () => {
    expect(readLinuxAddresses().local).toContain('127.0.0.1');
    expect(readLinuxAddresses('/nonexistent').local).toEqual([]);
  });
});
