import type { Config } from '../config.ts';
import { collectOutbox, type DeliveredFile, type SkippedFile } from '../files/outbox.ts';
import type { FileStore } from '../files/store.ts';
import type { Logger } from '../logger.ts';

export type { DeliveredFile, SkippedFile };
export type CollectFiles = (messageId: string) => Promise<{ files: DeliveredFile[]; skipped: SkippedFile[] }>;

/**
 * Collects a session's outbox at the end of each turn. A failure (database away, disk full) leaves the
 * files in the outbox for the next turn and the reply goes out without them.
 */
export function outboxCollector(
  files: FileStore,
  config: Config,
  session: { sessionId: string; root: string },
  log: Logger,
): CollectFiles {
  return async (messageId) => {
    try {
      return await collectOutbox(files, {
        root: session.root,
        sessionId: session.sessionId,
        messageId,
        maxFiles: config.outboxMaxFiles,
        quotaBytes: config.filesQuotaMb * 1024 * 1024,
        rules: { allowDotfiles: config.filesAllowDotfiles },
      });
    } catch (err) {
      log.warn(
        { err, sessionId: session.sessionId },
        'collecting the outbox failed; files stay for the next turn',
      );
      return {
        files: [],
        skipped: [{ name: 'outbox', reason: `collection failed: ${(err as Error).message}` }],
      };
    }
  };
}
