import { Module } from '@nestjs/common';

/** LLM providers (OpenAI-compatible and the offline scripted model), retry and circuit breaker. */
@Module({})
export class LlmModule {}
