import { Readable } from 'node:stream';
import type { Config } from '../../config.ts';
import { AppError } from '../../errors.ts';
import { checkName, checkNoClash } from '../../files/names.ts';
import { removeFilesBeneath, writeBeneath } from '../../files/workspace.ts';
import type { Queryable } from '../../store/db.ts';
import { newId } from '../../store/ids.ts';
import { getSession } from '../../store/sessions.ts';
import { agentOwner, ensureSessionFolder, nameRules } from '../files/session-folder.ts';

export interface Attachment {
  name: string;
  contentType?: string;
  data: string;
}

/** The message to store: its id (chosen up front when files are named after it) and the text the agent gets. */
export interface PreparedMessage {
  id?: string;
  body: string;
  /** Removes the files written for a message that was not stored (an idempotent retry). */
  discard(): Promise<void>;
  /** Storing failed: removes the files unless the write may still commit (a timeout), then rethrows. */
  failed(err: unknown): Promise<never>;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Largest JSON body POST …/messages accepts: the attachments in base64 plus room for the text. */
export function messageBodyLimit(config: Config): number {
  return Math.ceil((config.messageAttachmentsMaxBytes * 4) / 3) + 512 * 1024;
}

function decode(attachments: Attachment[], config: Config): Buffer[] {
  const rules = nameRules(config);
  const seen: string[] = [];
  let total = 0;
  return attachments.map((a, i) => {
    checkName(a.name, rules, `attachments[${i}].name`);
    checkNoClash(a.name, seen);
    if (seen.includes(a.name))
      throw new AppError('FILE_NAME_CLASH', `attachment name ${JSON.stringify(a.name)} is used twice`);
    seen.push(a.name);
    if (a.data.length % 4 !== 0 || !BASE64.test(a.data))
      throw new AppError('ATTACHMENT_INVALID', `attachments[${i}].data is not padded standard base64`);
    const bytes = Buffer.from(a.data, 'base64');
    if (bytes.length > config.attachmentMaxBytes)
      throw new AppError(
        'FILE_TOO_LARGE',
        `attachment ${a.name} is larger than ${config.attachmentMaxBytes} bytes`,
        {
          limit: config.attachmentMaxBytes,
        },
      );
    total += bytes.length;
    if (total > config.messageAttachmentsMaxBytes)
      throw new AppError(
        'FILE_TOO_LARGE',
        `the attachments are larger than ${config.messageAttachmentsMaxBytes} bytes together`,
        {
          limit: config.messageAttachmentsMaxBytes,
        },
      );
    return bytes;
  });
}

/**
 * Writes a message's attachments to /workspace/inbox/<messageId>/ (before the message is stored, so
 * the agent never gets a message whose files are missing) and appends their paths to its text.
 */
export async function prepareMessage(
  ctx: { config: Config; db: Queryable },
  sessionId: string,
  text: string,
  attachments: Attachment[] | undefined,
): Promise<PreparedMessage> {
  if (!attachments || attachments.length === 0)
    return {
      body: text,
      discard: async () => {},
      failed: async (err) => {
        throw err;
      },
    };
  const { config } = ctx;
  const decoded = decode(attachments, config);
  const session = await getSession(ctx.db, sessionId);
  const root = await ensureSessionFolder(config, session);
  const id = newId('msg');
  const owner = agentOwner(config);
  const discard = () =>
    removeFilesBeneath(
      root,
      ['inbox', id],
      attachments.map((a) => a.name),
    );
  const lines: string[] = [];
  try {
    for (const [i, a] of attachments.entries()) {
      const written = await writeBeneath(root, ['inbox', id, a.name], Readable.from([decoded[i]!]), {
        maxBytes: config.attachmentMaxBytes,
        rules: nameRules(config),
        ...(owner ? { owner } : {}),
      });
      lines.push(
        `- /workspace/inbox/${id}/${a.name} (${written.size} bytes${a.contentType ? `, ${a.contentType}` : ''})`,
      );
    }
  } catch (err) {
    await discard();
    throw err;
  }
  const failed = async (err: unknown): Promise<never> => {
    if ((err as AppError).code !== 'DATABASE_UNAVAILABLE') await discard();
    throw err;
  };
  return { id, body: `${text}\n\nAttached files:\n${lines.join('\n')}`, discard, failed };
}
