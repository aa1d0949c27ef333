import { open, readFile } from 'node:fs/promises';

/** One rootfs entry; `source` files are read from the host, `content` is written as given. */
export type Entry =
  | { type: 'dir'; path: string; mode: number; uid?: number; gid?: number }
  | { type: 'file'; path: string; mode: number; source: string; uid?: number; gid?: number }
  | { type: 'data'; path: string; mode: number; content: string; uid?: number; gid?: number }
  | { type: 'symlink'; path: string; target: string };

/** Fixed mtime so the same inputs always produce the same archive. */
const MTIME = 1_704_067_200;
const BLOCK = 512;

function octal(buf: Buffer, offset: number, length: number, value: number): void {
  buf.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

function splitName(name: string): [string, string] {
  if (Buffer.byteLength(name) <= 100) return ['', name];
  const cut = name.lastIndexOf('/', 155);
  if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100)
    throw new Error(`path too long for ustar: ${name}`);
  return [name.slice(0, cut), name.slice(cut + 1)];
}

function header(entry: Entry, size: number): Buffer {
  const buf = Buffer.alloc(BLOCK);
  const name = entry.path.replace(/^\/+/, '') + (entry.type === 'dir' ? '/' : '');
  const [prefix, base] = splitName(name);
  buf.write(base, 0, 100, 'utf8');
  const uid = entry.type === 'symlink' ? 0 : (entry.uid ?? 0);
  const gid = entry.type === 'symlink' ? 0 : (entry.gid ?? 0);
  octal(buf, 100, 8, entry.type === 'symlink' ? 0o777 : entry.mode);
  octal(buf, 108, 8, uid);
  octal(buf, 116, 8, gid);
  octal(buf, 124, 12, size);
  octal(buf, 136, 12, MTIME);
  buf.write(' '.repeat(8), 148, 8, 'ascii');
  buf.write(entry.type === 'dir' ? '5' : entry.type === 'symlink' ? '2' : '0', 156, 1, 'ascii');
  if (entry.type === 'symlink') buf.write(entry.target, 157, 100, 'utf8');
  buf.write('ustar\u000000', 257, 8, 'ascii');
  if (uid === 0) buf.write('root', 265, 32, 'ascii');
  if (gid === 0) buf.write('root', 297, 32, 'ascii');
  buf.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of buf) sum += byte;
  buf.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return buf;
}

async function body(entry: Entry): Promise<Buffer> {
  if (entry.type === 'file') return readFile(entry.source);
  if (entry.type === 'data') return Buffer.from(entry.content);
  return Buffer.alloc(0);
}

/** Writes a ustar archive with fixed owners, modes and mtimes (no host metadata leaks in). */
export async function writeTar(file: string, entries: readonly Entry[]): Promise<void> {
  const out = await open(file, 'w');
  try {
    for (const entry of entries) {
      const data = await body(entry);
      await out.write(header(entry, data.length));
      if (data.length === 0) continue;
      await out.write(data);
      const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
      if (pad) await out.write(Buffer.alloc(pad));
    }
    await out.write(Buffer.alloc(BLOCK * 2));
  } finally {
    await out.close();
  }
}
