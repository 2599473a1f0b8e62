import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { Settings } from './settings.js';

export class InvalidSettingsError extends Error {}

/** Settings that carry keys or passwords: a validation message never repeats their value. */
const SECRET_SETTINGS = new Set(['API_KEYS', 'LLM_API_KEY', 'DATABASE_URL', 'DATABASE_LISTEN_URL']);

/** Keys must be unique and owners fit `sessions.owner`; a pair is named by position, never by its key. */
function apiKeyProblems(apiKeys: string): string[] {
  const pairs = apiKeys.split(',').map((pair) => pair.split(':'));
  return pairs.flatMap(([key, owner], index) => [
    ...(pairs.findIndex(([other]) => other === key) < index ? [`API_KEYS: pair ${index + 1} repeats an earlier key`] : []),
    ...(owner.length > 200 ? [`API_KEYS: the owner of pair ${index + 1} is longer than 200 characters`] : []),
  ]);
}

/** Reads and validates the settings; throws naming every bad setting and why. */
export function loadSettings(env: Record<string, string | undefined>): Settings {
  const known = Object.keys(new Settings());
  const raw: Record<string, string> = {};
  for (const name of [
    ...known,
    'DATABASE_URL',
    'DATABASE_LISTEN_URL',
    'LLM_BASE_URL',
    'LLM_API_KEY',
    'LLM_MODEL',
    'API_KEYS',
    'APPROVAL_POLICY_FILE',
    'OTEL_EXPORTER_OTLP_ENDPOINT',
  ]) {
    const value = env[name];
    if (value !== undefined) raw[name] = value;
  }
  const settings = plainToInstance(Settings, raw);
  settings.LLM_MODEL ??= settings.LLM_PROVIDER === 'anthropic' ? 'claude-sonnet-4-5' : 'gpt-4o-mini';
  const errors = validateSync(settings, { forbidUnknownValues: false });
  const problems = errors.flatMap((e) =>
    Object.values(e.constraints ?? {}).map((message) =>
      SECRET_SETTINGS.has(e.property)
        ? `${e.property} (value not shown): ${message}`
        : `${e.property}=${JSON.stringify(raw[e.property])}: ${message}`,
    ),
  );
  if (settings.API_KEYS && !errors.some((e) => e.property === 'API_KEYS')) problems.push(...apiKeyProblems(settings.API_KEYS));
  if (settings.LLM_PROVIDER === 'anthropic' && !settings.LLM_API_KEY && !settings.LLM_BASE_URL) {
    problems.push('LLM_API_KEY: must be set when LLM_PROVIDER=anthropic');
  }
  if (settings.LLM_THINKING_BUDGET > 0 && settings.LLM_THINKING_BUDGET >= settings.LLM_MAX_TOKENS) {
    problems.push('LLM_THINKING_BUDGET: must be smaller than LLM_MAX_TOKENS');
  }
  if (settings.NODE_ENV === 'production' && !settings.API_KEYS) {
    problems.push('API_KEYS: must be set when NODE_ENV=production (the service refuses to run open in production)');
  }
  if (problems.length > 0) {
    throw new InvalidSettingsError(`Invalid settings:\n  ${problems.join('\n  ')}`);
  }
  return settings;
}
