import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, type FileHandle, mkdir, open, rename, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logger.ts';
import type { Store } from '../store/db.ts';
import {
  deleteFilesBefore,
  type FileRow,
  insertFile,
  type NewFile,
  sessionHashes,
  unreferenced,
} from '../store/files.ts';
import { copyCapped } from './stream-cap.ts';

const SHA256 = /^[0-9a-f]{64}$/;
/** How often delivered files past their retention are deleted. */
const PRUNE_EVERY_MS = 60_000;

/**
 * Delivered files: metadata in the database, content by sha256 under `<dataDir>/files/<ab>/<sha256>`,
 * written by berth alone (mode 0600), so what a client downloads cannot be changed by a later turn.
 * Content no row refers to any more is removed when its last row goes (retention or session deletion).
 */
export class FileStore {
  readonly dir: string;
  readonly #store: Store;
  readonly #log: Logger;
  readonly #retentionMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: { dataDir: string; store: Store; log: Logger; retentionMs: number }) {
    this.dir = path.join(path.resolve(opts.dataDir), 'files');
    this.#store = opts.store;
    this.#log = opts.log;
    this.#retentionMs = opts.retentionMs;
  }

  get db() {
    return this.#store.db;
  }

  blobPath(sha256: string): string {
    if (!SHA256.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return path.join(this.dir, sha256.slice(0, 2), sha256);
  }

  /** Clears partial copies a crash left behind and starts the retention sweep. */
  async start(): Promise<void> {
    await rm(path.join(this.dir, 'tmp'), { recursive: true, force: true });
    await this.prune();
    this.#timer = setInterval(
      () => void this.prune().catch((err) => this.#log.warn({ err }, 'pruning delivered files failed')),
      PRUNE_EVERY_MS,
    );
  }

  close(): void {
    clearInterval(this.#timer);
  }

  /** Copies an opened file (from its start) into the store and records it for the session. */
  async add(source: FileHandle, meta: Omit<NewFile, 'size' | 'sha256'>): Promise<FileRow> {
    const copied = await this.#copyIn(source);
    const row = await insertFile(this.db, { ...meta, size: copied.size, sha256: copied.sha256 });
    // Another session's deletion may have released the same content between the copy and the row.
    if (
      !(await access(this.blobPath(copied.sha256)).then(
        () => true,
        () => false,
      ))
    )
      await this.#copyIn(source);
    return row;
  }

  async #copyIn(source: FileHandle): Promise<{ size: number; sha256: string }> {
    const tmpDir = path.join(this.dir, 'tmp');
    await mkdir(tmpDir, { recursive: true, mode: 0o700 });
    const temp = path.join(tmpDir, randomBytes(12).toString('hex'));
    const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;
    const out = await open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    let copied: { size: number; sha256: string };
    try {
      const input = source.createReadStream({ start: 0, autoClose: false });
      copied = await copyCapped(input, out, Number.MAX_SAFE_INTEGER);
      await out.sync();
    } catch (err) {
      await out.close();
      await unlink(temp);
      throw err;
    }
    await out.close();
    const final = this.blobPath(copied.sha256);
    await mkdir(path.dirname(final), { recursive: true, mode: 0o700 });
    // Same content, same name: replacing an existing copy is harmless and keeps it present for the new row.
    await rename(temp, final);
    return copied;
  }

  /** The hashes a session uses, read before the session is deleted so its content can be removed after. */
  hashesOf(sessionId: string): Promise<string[]> {
    return sessionHashes(this.db, sessionId);
  }

  /** Removes the content of these hashes that no file row refers to any more. */
  async release(hashes: string[]): Promise<void> {
    for (const sha of await unreferenced(this.db, hashes)) await rm(this.blobPath(sha), { force: true });
  }

  /** Deletes files past retention, then the content nothing refers to any more. */
  async prune(): Promise<void> {
    await this.release(await deleteFilesBefore(this.db, new Date(Date.now() - this.#retentionMs)));
  }
}
