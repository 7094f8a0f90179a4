/**
 * `npm start`: the whole EchoFS system on this machine. PORT (default 8080) and ECHOFS_DATA_DIR
 * (default .echofs) choose where; every other setting comes from the environment as in the cloud.
 * SIGINT/SIGTERM stop everything in order (HTTP server, schedules, catalog, proxies, emulators).
 */
import { ConfigError } from '#shared/config.js';
import { logger } from '#shared/observability.js';
import { installCrashGuard } from './adapter.js';
import { DataDirInUseError, PortInUseError, startSystem, type LocalSystem } from './system.js';

async function main(): Promise<void> {
  // The SDK's notice that its 2027 releases need Node 22 says nothing about this run; keep the console readable.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // One request's escaped error is logged and answered; it never ends the server.
  installCrashGuard();
  const dataDir = process.env.ECHOFS_DATA_DIR?.trim() || '.echofs';
  let system: LocalSystem;
  try {
    system = await startSystem({ dataDir });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof PortInUseError || err instanceof DataDirInUseError) {
      process.stderr.write(`EchoFS could not start. ${err.message}\n`);
    } else {
      logger.error('EchoFS failed to start', { error: err as Error });
      process.stderr.write(`EchoFS could not start: ${(err as Error).message}\n`);
    }
    process.exitCode = 1;
    return;
  }

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`Received ${signal} again while stopping; exiting now.\n`);
      process.exit(130);
    }
    stopping = true;
    logger.info('stopping', { signal });
    system
      .stop()
      .then(() => {
        process.stdout.write('EchoFS stopped.\n');
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error('stop failed', { error: err as Error });
        process.exit(1);
      });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  process.stdout.write(
    `EchoFS is running at http://localhost:${system.port} (regions ${system.config.regions.join(', ')}; data in ${system.config.dataDir}). Press Ctrl+C to stop.\n`,
  );
}

void main();
