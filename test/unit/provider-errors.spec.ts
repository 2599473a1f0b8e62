import { expect } from 'expect';
import { describe, it } from 'node:test';
import { isProviderFailure, providerError } from '../../src/llm/llm-errors.js';
import { redactSecrets } from '../../src/llm/redact-secrets.js';

describe('provider errors: one mapping for what real servers say', () => {
  const cases: Array<[string, Parameters<typeof providerError>[0], string, boolean]> = [
    [
      'OpenAI context',
      { status: 400, code: 'context_length_exceeded', message: "This model's maximum context length is 128000 tokens." },
      'llm_context_too_long',
      false,
    ],
    [
      'Anthropic context',
      { status: 400, type: 'invalid_request_error', message: 'prompt is too long: 210000 tokens > 200000 maximum' },
      'llm_context_too_long',
      false,
    ],
    [
      'vLLM without tool flags',
      { status: 400, message: '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set' },
      'llm_tools_unsupported',
      false,
    ],
    [
      'Ollama model without tools',
      { status: 400, message: 'registry.ollama.ai/library/gemma:2b does not support tools' },
      'llm_tools_unsupported',
      false,
    ],
    [
      'OpenRouter without tool endpoints',
      { status: 404, message: 'No endpoints found that support tool use.' },
      'llm_tools_unsupported',
      false,
    ],
    ['Ollama unknown model', { status: 404, message: 'model "llama9" not found, try pulling it first' }, 'llm_model_not_found', false],
    ['bad key', { status: 401, message: 'Incorrect API key provided' }, 'llm_auth_failed', false],
    ['forbidden', { status: 403, type: 'permission_error', message: 'no access' }, 'llm_auth_failed', false],
    ['other 4xx', { status: 422, message: 'unprocessable' }, 'llm_bad_request', false],
    ['rate limit', { status: 429, message: 'slow down' }, 'llm_rate_limited', true],
    ['5xx', { status: 502, message: 'bad gateway' }, 'llm_error', true],
    ['Anthropic overloaded', { status: 529, type: 'overloaded_error', message: 'Overloaded' }, 'llm_error', true],
    ['in-stream overloaded', { type: 'overloaded_error', message: 'Overloaded' }, 'llm_error', true],
    ['in-stream bad key', { code: 'invalid_api_key', message: 'Incorrect API key provided' }, 'llm_auth_failed', false],
    ['in-stream context', { code: 'context_length_exceeded', message: 'too long' }, 'llm_context_too_long', false],
    ['in-stream unknown', { message: 'something odd' }, 'llm_error', true],
  ];
  for (const [name, failure, code, counts] of cases) {
    it(`${name} → ${code}${counts ? ', a provider failure' : ', the request at fault'}`, () => {
      const error = providerError(failure);
      expect(error.code).toBe(code);
      expect(isProviderFailure(error)).toBe(counts);
      // The client's message names what to fix, never the provider's words.
      expect(error.message).not.toContain(failure.message!);
      expect(error.recorded).toContain(failure.message!);
    });
  }
});

describe('secrets in provider messages', () => {
  it('removes the configured key and anything shaped like a credential', () => {
    const text =
      'Incorrect API key provided: sk-proj-abc123def456. Authorization: Bearer eyJhbGciOi.x.y; ' +
      'see https://user:pa55@example.com/v1?api_key=k123&x=1 and ' +
      'token ' +
      'a'.repeat(48) +
      ' and my-own-secret';
    const out = redactSecrets(text, ['my-own-secret']);
    expect(out).toBe(
      'Incorrect API key provided: [redacted]. Authorization: Bearer [redacted]; ' +
        'see https://[redacted]@example.com/v1?api_key=[redacted]&x=1 and token [redacted] and [redacted]',
    );
  });
});
