import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import * as schema from './schema.ts';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
/** A database handle or an open transaction: repositories accept either. */
export type Queryable = Db | Tx;

export interface Store {
  db: Db;
  kind: 'pglite' | 'postgres';
  /**
   * Subscribes to a NOTIFY channel; resolves to an unsubscribe function. `onListen` runs on every
   * (re)subscription: notifications sent while the connection was down are lost, so callers catch up.
   */
  listen(
    channel: string,
    onPayload: (payload: string) => void,
    onListen?: () => void,
  ): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

const migrationsFolder = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../drizzle');
const MIGRATION_LOCK = 7_319_201;
const casing = 'snake_case' as const;

export interface OpenOptions {
  databaseUrl: string | undefined;
  dataDir: string;
  /** An existing PGlite instance (tests clone a migrated template instead of paying for initdb). */
  pglite?: PGlite;
  maxConnections?: number;
}

export async function openStore(opts: OpenOptions): Promise<Store> {
  return opts.databaseUrl ? openPostgres(opts.databaseUrl, opts.maxConnections ?? 10) : openPglite(opts);
}

async function openPglite(opts: OpenOptions): Promise<Store> {
  let pg = opts.pglite;
  if (!pg) {
    const dir = path.join(opts.dataDir, 'pglite');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    pg = new PGlite(dir);
  }
  const client = pg;
  const db = drizzlePglite(client, { schema, casing }) as unknown as Db;
  await migratePglite(db as never, { migrationsFolder });
  return {
    db,
    kind: 'pglite',
    async listen(channel, onPayload) {
      const unsubscribe = await client.listen(channel, onPayload);
      return async () => unsubscribe();
    },
    async notify(channel, payload) {
      await client.query('select pg_notify($1, $2)', [channel, payload]);
    },
    async ping() {
      await client.query('select 1');
    },
    async close() {
      if (!client.closed) await client.close();
    },
  };
}

async function openPostgres(url: string, max: number): Promise<Store> {
  // A bounded connect: with the server gone, queries fail within seconds instead of waiting 30 s.
  const options = {
    onnotice: () => {},
    max,
    connect_timeout: 5,
    // The default backoff grows to 20 s after a few refused connects: a 3 s restart would cost 20 s.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    connection: { application_name: 'berth' },
  };
  await migrateUnderLock(url);
  const client = postgres(url, options);
  const db = drizzlePostgres(client, { schema, casing }) as unknown as Db;
  return {
    db,
    kind: 'postgres',
    async listen(channel, onPayload, onListen) {
      const sub = await client.listen(
        channel,
        (payload) => onPayload(payload),
        () => onListen?.(),
      );
      return () => sub.unlisten();
    },
    async notify(channel, payload) {
      await client`select pg_notify(${channel}, ${payload})`;
    },
    async ping() {
      await client`select 1`;
    },
    async close() {
      await client.end({ timeout: 5 });
    },
  };
}

// Several instances may boot at once against one database: migrations run under an advisory lock.
async function migrateUnderLock(url: string): Promise<void> {
  const client = postgres(url, { onnotice: () => {}, max: 1 });
  try {
    const db = drizzlePostgres(client, { casing });
    await db.execute(sql`select pg_advisory_lock(${MIGRATION_LOCK})`);
    try {
      await migratePostgres(db, { migrationsFolder });
    } finally {
      await db.execute(sql`select pg_advisory_unlock(${MIGRATION_LOCK})`);
    }
  } finally {
    await client.end({ timeout: 5 });
  }
}
