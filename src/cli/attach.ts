import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { components } from '../http/api.d.ts';
import { UsageError } from './errors.ts';

/** One file for `attachments` on POST /messages. */
export type Attachment = NonNullable<components['schemas']['MessageCreate']['attachments']>[number];

/** Read in full and base64-encoded in memory, so bounded here; the server applies its own limit. */
export const MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024;

const TYPES: Record<string, string> = {
  '.txt': 'text/plain',
  '.md': 'text/markdown',
  '.csv': 'text/csv',
  '.html': 'text/html',
  '.json': 'application/json',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.xml': 'application/xml',
  '.pdf': 'application/pdf',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
  '.tar': 'application/x-tar',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
};

/** The content type for a file name, from its extension; undefined lets the server decide. */
export function contentTypeOf(name: string): string | undefined {
  return TYPES[path.extname(name).toLowerCase()];
}

/** Reads FILE for `--attach`: a regular file under the size cap, named by its base name. */
export async function readAttachment(file: string): Promise<Attachment> {
  const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`--attach ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  if (!info.isFile()) throw new UsageError(`--attach ${file}: not a regular file`);
  if (info.size > MAX_ATTACHMENT_BYTES)
    throw new UsageError(
      `--attach ${file}: ${info.size} bytes is over the ${MAX_ATTACHMENT_BYTES}-byte limit`,
    );
  const name = path.basename(file);
  const contentType = contentTypeOf(name);
  const data = (await readFile(file)).toString('base64');
  return contentType ? { name, contentType, data } : { name, data };
}
