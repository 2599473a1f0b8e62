import 'dotenv/config';
import { createApp } from './app.js';
import { InvalidSettingsError, loadSettings } from './config/settings.js';

async function main(): Promise<void> {
  let settings;
  try {
    settings = loadSettings(process.env);
  } catch (error) {
    if (!(error instanceof InvalidSettingsError)) throw error;
    process.stderr.write(`${error.message}\nThe service did not start.\n`);
    process.exit(1);
  }
  const app = await createApp(settings);
  app.enableShutdownHooks();
  await app.listen(settings.PORT);
}

main().catch((error: unknown) => {
  process.stderr.write(`The service failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
