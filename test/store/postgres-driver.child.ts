// Runs postgres.js in its own process, so a crash of the driver shows as this process dying
// (uncaught TypeError from a setImmediate), not as a failed assertion in the test runner.
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';

const [mode, url, killerUrl] = process.argv.slice(2) as [string, string, string];
const say = (line: string) => process.stdout.write(`${line}\n`);

/** porsager/postgres#1208: a reserved connection whose backend was terminated. */
async function reservedAfterTerminate(): Promise<void> {
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  const killer = postgres(killerUrl, { max: 1, onnotice: () => {} });
  const reserved = await sql.reserve();
  const [row] = await reserved`select pg_backend_pid() as pid`;
  await killer`select pg_terminate_backend(${row!.pid})`;
  const outcomes: string[] = [];
  for (let i = 0; i < 3; i++) {
    say(`attempt ${i}`);
    // A query on the dead connection must settle or at worst stall; it must never take the process down.
    const query = reserved`select 1 as one`.then(
      () => 'ok',
      (err: { code?: string }) => String(err.code),
    );
    outcomes.push(await Promise.race([query, sleep(5000).then(() => 'STALLED')]));
  }
  say('releasing');
  reserved.release();
  // The pool answers again once the dead connection has been replaced.
  let pool = 'failing';
  for (let i = 0; i < 20 && pool !== 'ok'; i++) {
    pool = await sql`select 2 as two`.then(
      () => 'ok',
      (err: { code?: string }) => String(err.code),
    );
  }
  say(`outcomes ${outcomes.join(',')} pool ${pool}`);
  await sql.end({ timeout: 1 });
  await killer.end({ timeout: 1 });
}

/** Small queries, a reserved connection and LISTEN, all busy while the parent restarts the server. */
async function underLoad(): Promise<void> {
  const sql = postgres(url, { max: 6, onnotice: () => {}, connect_timeout: 2 });
  let reserved = await sql.reserve();
  let notified = 0;
  await sql.listen('driver_test', () => {
    notified++;
  });
  say('ready');
  const deadline = Date.now() + 40_000;
  let failed = 0;
  let recovered = 0;
  let notifiedBefore = 0;
  let lastBad = '';
  // Bounded: at most 40 s (a restart on a loaded machine can take a while); stops once 20 rounds in a row succeeded after it.
  while (Date.now() < deadline && recovered < 20) {
    const round = await Promise.allSettled([
      sql`select 1`,
      sql`select pg_notify('driver_test', 'x')`,
      reserved`select 1`,
      sql`select ${'a'.repeat(100)}::text`,
    ]);
    const bad = round.filter((r) => r.status === 'rejected').length;
    if (round[2]!.status === 'rejected') {
      // A reserved connection stays dead once its backend is gone: hand it back and take another.
      reserved.release();
      reserved = await sql.reserve().catch(() => reserved);
    }
    failed += bad;
    if (bad > 0)
      lastBad = round
        .map((r) =>
          r.status === 'rejected' ? String((r.reason as { code?: string }).code ?? r.reason) : 'ok',
        )
        .join(',');
    if (failed === 0) notifiedBefore = notified;
    recovered = failed > 0 && bad === 0 ? recovered + 1 : 0;
    await sleep(bad > 0 ? 50 : 5);
  }
  // LISTEN comes back on its own connection, which may reconnect after the pool did: bounded wait.
  const listenDeadline = Date.now() + 10_000;
  while (notified === notifiedBefore && Date.now() < listenDeadline) {
    await sql`select pg_notify('driver_test', 'x')`;
    await sleep(100);
  }
  say(
    `failed ${failed} recovered ${recovered} notified-after ${notified - notifiedBefore} last-failed-round ${lastBad}`,
  );
  await sql.end({ timeout: 1 });
}

process.on('exit', (code) => say(`exit ${code}`));
// A LISTEN reconnect that finds the server still down rejects where no caller can catch it; that is
// the driver reporting an outage, not the crash under test, so it is recorded and the run goes on.
process.on('unhandledRejection', (err) => say(`unhandled ${(err as { code?: string }).code ?? String(err)}`));
await (mode === 'reserved' ? reservedAfterTerminate() : underLoad());
