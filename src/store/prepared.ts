import type { Queryable } from './db.ts';

/**
 * A statement built once per database handle and then only executed: on the message hot path
 * drizzle's query building costs more CPU than the driver, so hot statements take their values as
 * placeholders (`sql.placeholder`) instead of being rebuilt for every call.
 */
export function preparedPer<T>(build: (db: Queryable) => T): (db: Queryable) => T {
  const built = new WeakMap<Queryable, T>();
  return (db) => {
    let statement = built.get(db);
    if (!statement) {
      statement = build(db);
      built.set(db, statement);
    }
    return statement;
  };
}
