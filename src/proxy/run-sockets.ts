import { createHash } from 'node:crypto';
import { chmod, mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { AppError } from '../errors.ts';

/** Where a run's sockets appear inside its container (mounted read-only; connecting still works). */
export const CONTAINER_SOCKET_DIR = '/run/berth';
/** sockaddr_un.sun_path is 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

export type SocketHandler = (socket: net.Socket) => void;

export interface RunSockets {
  /** Host directory to bind-mount at CONTAINER_SOCKET_DIR. */
  dir: string;
  /** Stops listening, ends open connections and removes the directory. */
  close(): Promise<void>;
}

export class RunSocketError extends AppError {
  override name = 'RunSocketError';
  constructor(message: string) {
    super('PROXY_SOCKET_FAILED', message);
  }
}

/**
 * One directory per run holding one listening socket per proxy (`model.sock`, `egress.sock`).
 * The listener a connection arrives on names its run: no address or header can claim another.
 */
export async function openRunSockets(
  root: string,
  runName: string,
  handlers: Record<string, SocketHandler>,
): Promise<RunSockets> {
  const dir = path.join(root, createHash('sha256').update(runName).digest('hex').slice(0, 16));
  const longest = Math.max(...Object.keys(handlers).map((name) => path.join(dir, `${name}.sock`).length));
  if (longest > MAX_SOCKET_PATH) {
    throw new RunSocketError(
      `proxy socket paths under ${root} would be ${longest} bytes (limit ${MAX_SOCKET_PATH}); use a shorter BERTH_DATA_DIR`,
    );
  }
  // The root is private to berth's user; the run's own directory must be traversable by the container's uid.
  await mkdir(root, { recursive: true, mode: 0o700 });
  // A directory left by a crashed predecessor of the same run name is replaced.
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { mode: 0o755 });
  await chmod(dir, 0o755);
  const servers: net.Server[] = [];
  const open = new Set<net.Socket>();
  const close = async () => {
    for (const socket of open) socket.destroy();
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const [name, handle] of Object.entries(handlers)) {
      const file = path.join(dir, `${name}.sock`);
      const server = net.createServer((socket) => {
        open.add(socket);
        socket.once('close', () => open.delete(socket));
        handle(socket);
      });
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(file, () => resolve());
      });
      // The container's uid is not berth's: the socket itself must accept it.
      await chmod(file, 0o666);
    }
  } catch (err) {
    await close();
    throw new RunSocketError(`cannot open proxy sockets in ${dir}: ${(err as Error).message}`);
  }
  return { dir, close };
}
