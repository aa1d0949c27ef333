import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { inject } from 'vitest';
import { openStore, type Store } from '../../src/store/db.ts';
import { createDatabase } from './service.ts';

export type DbKind = 'pglite' | 'postgres';

let template: Promise<PGlite> | undefined;

/** A migrated PGlite kept per worker; each store is a clone, so a test pays for initdb once. */
async function migratedTemplate(): Promise<PGlite> {
  template ??= (async () => {
    const pg = new PGlite();
    await openStore({ databaseUrl: undefined, dataDir: '', pglite: pg });
    return pg;
  })();
  return template;
}

/** Database kinds this run covers; PostgreSQL is absent only outside CI on a machine without it. */
export function dbKinds(): DbKind[] {
  return inject('postgresUrl') ? ['pglite', 'postgres'] : ['pglite'];
}

/** A fresh, migrated, empty database of the given kind. */
export async function freshStore(kind: DbKind): Promise<Store & { url?: string }> {
  if (kind === 'pglite') {
    const clone = (await (await migratedTemplate()).clone()) as PGlite;
    return openStore({ databaseUrl: undefined, dataDir: '', pglite: clone });
  }
  const url = await freshDatabaseUrl();
  return Object.assign(await openStore({ databaseUrl: url, dataDir: '' }), { url });
}

/** A new empty PostgreSQL database on the run's cluster. */
export async function freshDatabaseUrl(): Promise<string> {
  const base = inject('postgresUrl');
  if (!base) throw new Error('no PostgreSQL for this run');
  return createDatabase(base);
}

export function tempDir(prefix = 'berth-test-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}
