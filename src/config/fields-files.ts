import type { Config } from '../config.ts';
import { type Field, flag, int, MINUTE } from './parse.ts';

const MIB = 1024 * 1024;
const DAY = 24 * 60 * MINUTE;

/** Settings of attachments, outbox files and the workspace over HTTP. */
export const fileFields = [
  {
    key: 'attachmentMaxBytes',
    env: 'BERTH_ATTACHMENT_MAX_BYTES',
    parse: int(10 * MIB, 1, 1024 * MIB),
    doc: 'Largest attachment (decoded) a message may carry; larger files go through `PUT …/workspace/content`.',
  },
  {
    key: 'messageAttachmentsMaxBytes',
    env: 'BERTH_MESSAGE_ATTACHMENTS_MAX_BYTES',
    parse: int(20 * MIB, 1, 1024 * MIB),
    doc: 'All attachments of one message together (decoded); the request body may be a third larger (base64).',
  },
  {
    key: 'uploadMaxBytes',
    env: 'BERTH_UPLOAD_MAX_BYTES',
    parse: int(512 * MIB, 1, 1024 * 1024 * MIB),
    doc: 'Largest file `PUT …/workspace/content` accepts; a longer body is cut off with 413 and the partial file removed.',
  },
  {
    key: 'filesQuotaMb',
    env: 'BERTH_FILES_QUOTA_MB',
    parse: int(1024, 1, 1024 * 1024 * 1024),
    doc: 'Delivered (outbox) files one session may keep in the file store; files past it are not attached (`file_skipped` event).',
  },
  {
    key: 'fileRetentionMs',
    env: 'BERTH_FILE_RETENTION_MS',
    parse: int(30 * DAY, 1000, 10 * 365 * DAY),
    doc: 'How long delivered files are kept; older ones are deleted (downloads answer 404).',
  },
  {
    key: 'outboxMaxFiles',
    env: 'BERTH_OUTBOX_MAX_FILES',
    parse: int(64, 1, 10_000),
    doc: 'Files collected from one turn’s outbox; the rest stay in the outbox for the next turn.',
  },
  {
    key: 'filesAllowDotfiles',
    env: 'BERTH_FILES_ALLOW_DOTFILES',
    parse: flag(false),
    doc: 'Accept attachment and workspace names starting with a dot (hidden files are refused and not listed by default).',
  },
] as const satisfies readonly Field<keyof Config>[];
