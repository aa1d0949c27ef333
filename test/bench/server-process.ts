import type { AddressInfo } from 'node:net';
import process from 'node:process';
import { sql } from 'drizzle-orm';
import Fastify, { type FastifyInstance } from 'fastify';
import { identities } from '../../src/sessions/identity.ts';
import { enqueueMessage } from '../../src/store/messages.ts';
import { startService } from '../support/service.ts';

// berth for the bench, in a process of its own (started by support.ts with --expose-gc and an IPC
// channel), so no load generator or viewer of the bench shares its event loop.

export type Request =
  | { id: number; type: 'bare'; sessionId: string }
  | { id: number; type: 'bare-close' }
  | { id: number; type: 'memory' }
  | { id: number; type: 'close' };

export interface Ready {
  type: 'ready';
  url: string;
  token: string;
  dataDir: string;
  installId: string;
  database: string;
}

export interface Memory {
  rssMb: number;
  /** JS heap in use plus memory held outside it by JS objects (buffers). */
  heapMb: number;
}

const env = JSON.parse(process.env.BENCH_BERTH_ENV ?? '{}') as Record<string, string>;
const service = await startService(env, { prefix: 'berth-bench-' });
const { db } = service.store;
let bare: FastifyInstance | undefined;

async function answer(req: Request): Promise<unknown> {
  switch (req.type) {
    case 'bare': {
      // The baseline: a bare Fastify route doing the same insert on berth's own database handle.
      bare = Fastify({ logger: false });
      bare.post('/messages', async (_request, reply) => {
        const { message } = await enqueueMessage(db, { sessionId: req.sessionId, body: 'load' });
        reply.code(202);
        return { id: message.id, seq: message.seq };
      });
      await bare.listen({ host: '127.0.0.1', port: 0 });
      return { url: `http://127.0.0.1:${(bare.server.address() as AddressInfo).port}/messages` };
    }
    case 'bare-close':
      await bare?.close();
      return {};
    case 'memory': {
      // Two passes: the first may only schedule finalisers that the second collects.
      for (let i = 0; i < 2; i++) globalThis.gc?.();
      const m = process.memoryUsage();
      return { rssMb: m.rss / 1024 ** 2, heapMb: (m.heapUsed + m.external) / 1024 ** 2 } satisfies Memory;
    }
    case 'close':
      await bare?.close();
      await service.close();
      return {};
  }
}

process.on('message', (req: Request) => {
  answer(req).then(
    (result) => process.send?.({ id: req.id, result }),
    (err: Error) => process.send?.({ id: req.id, error: err.stack ?? String(err) }),
  );
});

// postgres.js answers with an array of rows, PGlite with { rows }.
const result = (await db.execute(sql`select current_setting('server_version') as v`)) as unknown as Array<{
  v: string;
}> & { rows?: Array<{ v: string }> };
const version = (result.rows ?? result)[0]?.v ?? 'unknown';
process.send?.({
  type: 'ready',
  url: service.url,
  token: service.apiToken,
  dataDir: service.dataDir,
  installId: identities(service.config).installId,
  database: `${service.store.kind} (PostgreSQL ${version})`,
} satisfies Ready);
