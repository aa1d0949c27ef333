import { bigint, index, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { sessions } from './schema.ts';

/** Files delivered to clients (a turn's outbox): metadata here, content by sha256 under `<dataDir>/files`. */
export const files = pgTable(
  'files',
  {
    id: text().primaryKey(),
    sessionId: text()
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    /** The message whose turn produced the file. */
    messageId: text(),
    name: text().notNull(),
    size: bigint({ mode: 'number' }).notNull(),
    contentType: text().notNull(),
    sha256: text().notNull(),
    createdAt: timestamp({ withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    index('files_session').on(t.sessionId, t.id),
    index('files_sha256').on(t.sha256),
    index('files_created').on(t.createdAt),
  ],
);

export type FileRow = typeof files.$inferSelect;
