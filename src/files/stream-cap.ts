import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { AppError } from '../errors.ts';

/**
 * Copies `source` into `out` while hashing it; past `maxBytes` it stops writing and fails with
 * FILE_TOO_LARGE. The source is not destroyed: an HTTP request body is left to Node, which discards the
 * rest, so the client still reads the 413 instead of a reset connection.
 */
export function copyCapped(
  source: Readable,
  out: FileHandle,
  maxBytes: number,
): Promise<{ size: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let size = 0;
    let writing: Promise<unknown> = Promise.resolve();
    let settled = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', finish);
      source.off('close', onClose);
      if (err) {
        source.resume();
        reject(err);
      } else resolve({ size, sha256: hash.digest('hex') });
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes)
        return finish(
          new AppError('FILE_TOO_LARGE', `the file is larger than the limit of ${maxBytes} bytes`, {
            limit: maxBytes,
          }),
        );
      hash.update(chunk);
      source.pause();
      writing = writing
        .then(() => out.write(chunk))
        .then(() => {
          if (!settled) source.resume();
        }, finish);
    };
    const onEnd = () => void writing.then(() => finish(), finish);
    // A client that goes away mid-upload: its partial file is removed like an oversized one.
    const onClose = () =>
      void writing.then(() => {
        if (!source.readableEnded)
          finish(new AppError('BAD_REQUEST', 'the upload ended before its body was complete'));
      });
    source.on('data', onData);
    source.once('end', onEnd);
    source.once('error', finish);
    source.once('close', onClose);
  });
}
