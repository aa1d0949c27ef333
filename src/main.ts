import process from 'node:process';
import { ConfigError, loadConfig } from './config.ts';
import { createServer } from './server.ts';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`berth: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const server = await createServer(config);
  const { app } = server;
  if (server.tokenGenerated) {
    const file = `${config.dataDir}/api-token`;
    // A terminal shows it to the operator once; a log file or collector would keep the admin token.
    if (process.stdout.isTTY)
      app.log.info(`generated API token (stored in ${file}, shown once): ${server.apiToken}`);
    else app.log.info({ file }, 'generated API token: read it from the file (never written to the log)');
  }
  await app.listen({ host: config.host, port: config.port });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    server.close().then(
      () => process.exit(0),
      (err) => {
        app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // The database driver can reject a LISTEN reconnect where no caller awaits it while PostgreSQL is
  // down; that is an outage berth rides out (readiness reports it), not a reason to exit.
  process.on('unhandledRejection', (err) => app.log.error({ err }, 'unhandled rejection'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err) => {
  process.stderr.write(
    `berth: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
