import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbKinds } from '../support/db.ts';
import { PgCluster } from '../support/pg-cluster.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { createDatabase } from '../support/service.ts';

/** The sample lines of one metric on a Prometheus text page. */
const lines = (page: string, name: string) => page.split('\n').filter((l) => l.startsWith(`${name}{`));

// A PostgreSQL of this test's own, stopped while berth runs: the shared one must stay up for others.
describe.runIf(dbKinds().includes('postgres'))('GET /metrics while the database is down', () => {
  let cluster: PgCluster;
  let server: TestServer;

  beforeAll(async () => {
    cluster = await PgCluster.create();
    server = await startTestServer('postgres', {
      DATABASE_URL: await createDatabase(cluster.url),
      BERTH_RUNTIME: 'container',
      BERTH_DB_TIMEOUT_MS: '1000',
    });
  });
  afterAll(async () => {
    await server?.close();
    cluster?.destroy();
  });

  it('reports no session counts instead of the last ones, and counts the failed read', async () => {
    const scrape = async () => (await server.api('/metrics')).text();
    expect(lines(await scrape(), 'berth_sessions')).toContain('berth_sessions{status="idle"} 0');

    cluster.stop('fast');
    const during = await scrape();
    cluster.start();
    expect(lines(during, 'berth_sessions')).toEqual([]);
    // The failed read is counted while that scrape runs, so the next page shows it, with counts again.
    const after = await scrape();
    expect(lines(after, 'berth_database_errors_total')).toContain(
      'berth_database_errors_total{where="metrics"} 1',
    );
    expect(lines(after, 'berth_sessions')).toContain('berth_sessions{status="idle"} 0');
  });
});
