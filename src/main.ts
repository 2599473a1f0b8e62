import 'dotenv/config';
import { Logger } from '@nestjs/common';
import { createApp } from './app.js';
import { InvalidSettingsError, loadSettings } from './config/load-settings.js';
import type { Settings } from './config/settings.js';
import { UnexpectedErrors } from './observability/unexpected-errors.js';

function refuseToStart(error: InvalidSettingsError): never {
  process.stderr.write(`${error.message}\nThe service did not start.\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let settings: Settings;
  try {
    settings = loadSettings(process.env);
  } catch (error) {
    if (error instanceof InvalidSettingsError) refuseToStart(error);
    throw error;
  }
  const app = await createApp(settings).catch((error: unknown) => {
    if (error instanceof InvalidSettingsError) refuseToStart(error);
    throw error;
  });
  // On SIGTERM/SIGINT Nest stops taking requests, runs the shutdown hooks (running turns are
  // interrupted and stored, the pool closes, the embedded database stops) and exits.
  // process.exit() rather than re-raising the signal: pino writes asynchronously, and its exit hook
  // flushes the last lines ("stopped") that a signal's default action would drop.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      // A stop that hangs anyway must not keep an orchestrator waiting for ever.
      const bound = settings.SHUTDOWN_TIMEOUT_MS + 5_000;
      setTimeout(() => {
        process.stderr.write(`The stop took longer than ${bound} ms (SHUTDOWN_TIMEOUT_MS + 5 s): exiting.\n`);
        process.exit(1);
      }, bound).unref();
    });
  }
  // A bug that leaves a rejection unhandled stops this process gracefully instead of killing it mid-write.
  app.get(UnexpectedErrors).stopOnThem(() => app.close());
  await app.listen(settings.PORT);
  const url = (await app.getUrl()).replace('[::1]', 'localhost');
  new Logger('Main').log({
    msg: `listening on ${url}`,
    url,
    docs: `${url}/docs`,
    ...(settings.PLAYGROUND ? { playground: `${url}/` } : {}),
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`The service failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
