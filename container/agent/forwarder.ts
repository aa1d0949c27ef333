import net from 'node:net';

/**
 * Relays the container's own 127.0.0.1:PORT to berth's proxies on mounted Unix sockets, so tools
 * that only speak TCP (ANTHROPIC_BASE_URL, HTTP_PROXY) work in a container without a network.
 * BERTH_FORWARD: `PORT=/run/berth/model.sock,PORT=/run/berth/egress.sock`.
 */
export function parseForwards(spec: string | undefined): { port: number; socket: string }[] {
  if (!spec) return [];
  return spec.split(',').map((entry) => {
    const m = /^(\d{1,5})=(\/[^,]+)$/.exec(entry.trim());
    const port = Number(m?.[1]);
    if (!m || port < 1 || port > 65535)
      throw new Error(`BERTH_FORWARD entry "${entry}" is not PORT=/socket/path`);
    return { port, socket: m[2]! };
  });
}

function relay(client: net.Socket, socketPath: string, log: (line: string) => void): void {
  const upstream = net.connect(socketPath);
  const end = (err?: Error) => {
    if (err) log(`forwarder ${socketPath}: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
    client.destroy();
    upstream.destroy();
  };
  client.on('error', end);
  upstream.on('error', end);
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  client.pipe(upstream).pipe(client);
}

/** Resolves once every listener is up; only the container's loopback is bound, never a wildcard. */
export async function startForwarders(spec: string | undefined, log: (line: string) => void): Promise<void> {
  for (const { port, socket } of parseForwards(spec)) {
    const server = net.createServer((client) => relay(client, socket, log));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port }, () => resolve());
    });
    log(`forwarding 127.0.0.1:${port} to ${socket}`);
  }
}
