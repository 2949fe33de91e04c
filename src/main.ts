// `npm start`: read the environment, start the service, stop cleanly on SIGTERM/SIGINT.
import { ConfigError, loadConfig } from './config/config.js';
import { createLogger } from './composition/logger.js';
import { startService } from './composition/build-service.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel, config.otel.serviceName);
  process.on('unhandledRejection', (reason) => {
    logger.error({ event: 'unhandled_rejection', err: reason }, 'unhandled promise rejection');
  });

  const service = await startService(config, logger);
  let signalled = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (signalled) return;
    signalled = true;
    logger.info({ event: 'shutdown', signal }, `received ${signal}, shutting down`);
    const hardStop = setTimeout(() => {
      logger.error({ event: 'shutdown_timeout' }, 'shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, 10_000);
    hardStop.unref();
    service.stop().then(
      () => {
        logger.info({ event: 'stopped' }, 'stopped');
        logger.flush();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error during shutdown');
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `breakerbox failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
