import { Global, Module } from '@nestjs/common';
import { makeCounterProvider, makeGaugeProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';
import { Settings } from '../config/settings.js';
import { AnthropicProvider } from './anthropic-provider.js';
import { LlmClient } from './llm-client.js';
import { LlmProvider } from './llm-provider.js';
import { OpenAiProvider } from './openai-provider.js';
import { ScriptedProvider } from './scripted-provider.js';

const genAiLabels = ['gen_ai_provider_name', 'gen_ai_request_model'];

/** LLM providers (OpenAI-compatible, Anthropic and the offline scripted model), retry and circuit breaker. */
@Global()
@Module({
  providers: [
    {
      provide: LlmProvider,
      inject: [Settings],
      useFactory: (settings: Settings) =>
        settings.LLM_PROVIDER === 'anthropic'
          ? new AnthropicProvider(settings)
          : settings.LLM_BASE_URL
            ? new OpenAiProvider(settings)
            : new ScriptedProvider(settings),
    },
    LlmClient,
    makeHistogramProvider({
      name: 'gen_ai_client_operation_duration_seconds',
      help: 'GenAI operation duration (OpenTelemetry GenAI semantic conventions)',
      labelNames: genAiLabels,
      buckets: [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92],
    }),
    makeHistogramProvider({
      name: 'gen_ai_client_operation_time_to_first_chunk_seconds',
      help: 'Time from the request to the first chunk of a streamed answer',
      labelNames: genAiLabels,
      buckets: [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48],
    }),
    makeHistogramProvider({
      name: 'gen_ai_client_token_usage',
      help: 'Tokens used per operation, by token type (input, output)',
      labelNames: [...genAiLabels, 'gen_ai_token_type'],
      buckets: [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576],
    }),
    makeCounterProvider({
      name: 'llm_errors_total',
      help: 'Failed LLM calls after retries, by error type',
      labelNames: ['gen_ai_provider_name', 'error_type'],
    }),
    makeCounterProvider({
      name: 'llm_retries_total',
      help: 'LLM calls retried before their first token',
      labelNames: ['gen_ai_provider_name'],
    }),
    makeCounterProvider({
      name: 'llm_circuit_samples_total',
      help: 'LLM attempts the circuit breaker counted, by outcome (success, failure); cancels and 4xx are not counted',
      labelNames: ['gen_ai_provider_name', 'outcome'],
    }),
    makeGaugeProvider({
      name: 'llm_circuit_state',
      help: 'LLM circuit breaker state: 0 closed, 1 half-open, 2 open',
      labelNames: ['gen_ai_provider_name'],
    }),
  ],
  exports: [LlmClient],
})
export class LlmModule {}
