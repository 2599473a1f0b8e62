/**
 * The service started as `src/main.ts` starts it, plus a way for a test to inject the bug it must
 * survive: on the IPC message `reject` a promise rejects with nobody to handle it, on `reject-value`
 * one rejects with a value that is not an Error, on `throw` an exception goes uncaught.
 */
import { createApp } from '../../src/app.js';
import { loadSettings } from '../../src/config/load-settings.js';
import { UnexpectedErrors } from '../../src/observability/unexpected-errors.js';

const settings = loadSettings(process.env);
const app = await createApp(settings);
app.get(UnexpectedErrors).stopOnThem(() => app.close());
await app.listen(settings.PORT);
process.on('message', (message) => {
  if (message === 'reject') void Promise.reject(new Error('injected rejection'));
  if (message === 'reject-value') void Promise.reject({ attempt: 3, text: 'injected rejection value' });
  if (message === 'throw')
    setImmediate(() => {
      throw new Error('injected exception');
    });
});
