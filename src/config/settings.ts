import 'reflect-metadata';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, IsUrl, Matches, Max, Min } from 'class-validator';
import { emptyToUndefined, toBool, toInt } from './env-values.js';

/**
 * Every setting of the service, read from the environment. The names are the
 * environment variables themselves so that a validation message names exactly
 * what the operator has to fix.
 */
export class Settings {
  @IsIn(['development', 'production', 'test'])
  NODE_ENV: 'development' | 'production' | 'test' = 'development';

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 3000;

  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\//, { message: 'DATABASE_URL must be a postgres:// URL' })
  DATABASE_URL?: string;

  /** A direct connection for `LISTEN` (the live tail of turn streams) when DATABASE_URL goes through a pooler in transaction mode. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\//, { message: 'DATABASE_LISTEN_URL must be a postgres:// URL' })
  DATABASE_LISTEN_URL?: string;

  /** Where the embedded PostgreSQL keeps its data when DATABASE_URL is unset. */
  @IsString()
  DATA_DIR = '.data';

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(500)
  DB_POOL_SIZE = 10;

  /** Bound on opening a connection: a hung server fails within it (waiting for a pooled one is bounded separately, at 30 s). */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(60_000)
  DB_CONNECT_TIMEOUT_MS = 5_000;

  /** Consecutive connection failures that open the database circuit breaker. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  DB_BREAKER_THRESHOLD = 5;

  /** How long the open breaker refuses requests before a connection is let through as a probe. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  DB_BREAKER_COOLDOWN_MS = 10_000;

  /** `openai`: any OpenAI-compatible endpoint; `anthropic`: Anthropic's Messages API. */
  @IsIn(['openai', 'anthropic'])
  LLM_PROVIDER: 'openai' | 'anthropic' = 'openai';

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] }, { message: 'LLM_BASE_URL must be an http(s) URL' })
  LLM_BASE_URL?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  LLM_API_KEY?: string;

  /** Unset: `gpt-4o-mini` for `openai`, `claude-sonnet-4-5` for `anthropic`. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  LLM_MODEL!: string;

  /** Ask for usage in the stream (`stream_options.include_usage`); some gateways refuse the option. */
  @Transform(toBool)
  @IsBoolean()
  LLM_STREAM_USAGE = true;

  /** Anthropic's `max_tokens` (the API requires one). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  LLM_MAX_TOKENS = 8192;

  /** Anthropic's extended thinking budget in tokens; 0 turns thinking off. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  LLM_THINKING_BUDGET = 0;

  /** Whole-request bound on one LLM call (a reasoning model may think for minutes). */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  LLM_TIMEOUT_MS = 300_000;

  /** Longest wait for the first byte of an answer: a local server may first have to load the model. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  LLM_FIRST_TOKEN_TIMEOUT_MS = 120_000;

  /** Longest silence allowed between two chunks of a streaming answer (any byte counts, keep-alives too). */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  LLM_IDLE_TIMEOUT_MS = 30_000;

  /** Retries before the first token (429, 5xx, timeouts, connection errors). */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(10)
  LLM_MAX_RETRIES = 3;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(60_000)
  LLM_RETRY_BASE_MS = 200;

  /** Share of failed LLM attempts (in %, over the window) that opens the circuit breaker. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(99)
  LLM_BREAKER_FAILURE_PERCENT = 50;

  /** The breaker's sliding window. */
  @Transform(toInt)
  @IsInt()
  @Min(1_000)
  LLM_BREAKER_WINDOW_MS = 30_000;

  /** Attempts needed in the window before its failure rate can open the breaker (a quiet service never trips on two failures). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  LLM_BREAKER_MIN_CALLS = 20;

  @Transform(toInt)
  @IsInt()
  @Min(100)
  LLM_BREAKER_COOLDOWN_MS = 30_000;

  /** Delay between words of the offline scripted model. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(10_000)
  SCRIPTED_TOKEN_DELAY_MS = 30;

  /** History is trimmed, oldest first, to fit this many (estimated) tokens. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  HISTORY_TOKEN_BUDGET = 100_000;

  /** LLM calls one turn may make before it stops (tool refusals and hand-overs included). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100)
  MAX_STEPS_PER_TURN = 10;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(20)
  MAX_SWITCHES_PER_TURN = 3;

  @Transform(toBool)
  @IsBoolean()
  MULTI_AGENT_MODE = true;

  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^[^:,\s]+:[^:,\s]+(,[^:,\s]+:[^:,\s]+)*$/, { message: 'API_KEYS must be a list of key:owner pairs separated by commas' })
  API_KEYS?: string;

  @Transform(toBool)
  @IsBoolean()
  METRICS_PUBLIC = true;

  @Transform(toBool)
  @IsBoolean()
  DOCS_PUBLIC = true;

  /** The web page at `/`; false for an API-only deployment (`/` then answers 404). */
  @Transform(toBool)
  @IsBoolean()
  PLAYGROUND = true;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  RATE_LIMIT_PER_MINUTE = 600;

  /**
   * Where requests are counted: in this process, or in PostgreSQL (`rate_limit_hits`), so that
   * several instances share one budget per key at one statement per request. Instances behind one
   * load balancer need `database` (docs/deployment.md).
   */
  @IsIn(['memory', 'database'])
  RATE_LIMIT_STORE: 'memory' | 'database' = 'memory';

  @Transform(toInt)
  @IsInt()
  @Min(1)
  APPROVAL_TTL_SECONDS = 900;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  APPROVAL_POLICY_FILE?: string;

  @Transform(toInt)
  @IsInt()
  @Min(2)
  @Max(3600)
  SESSION_LEASE_SECONDS = 30;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  SESSION_TTL_HOURS = 720;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  SLOW_TRANSACTION_MS = 100;

  /** A `: ping` comment keeps a quiet stream alive through proxies that drop idle connections. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(300)
  SSE_PING_SECONDS = 15;

  /** The `retry:` field of every stream: how long an EventSource client waits before it reconnects. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(600_000)
  SSE_RETRY_MS = 3_000;

  /** What a turn does when its client leaves, unless the request says (`onDisconnect`): stop, or run to its end. */
  @IsIn(['cancel', 'continue'])
  ON_DISCONNECT: 'cancel' | 'continue' = 'cancel';

  /** Stored stream events of finished turns are deleted after this (the messages stay). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  EVENT_RETENTION_HOURS = 24;

  /** How long a stop waits for running streams before it cuts them. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  SHUTDOWN_TIMEOUT_MS = 10_000;

  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL = 'info';

  /** The OTLP/HTTP collector traces go to (`/v1/traces` is appended); unset: tracing is off and no SDK is loaded. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl(
    { require_tld: false, require_protocol: true, protocols: ['http', 'https'] },
    { message: 'OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL' },
  )
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;

  /** `service.name` of the traces. */
  @IsString()
  @Matches(/^\S{1,100}$/, { message: 'OTEL_SERVICE_NAME must be 1 to 100 characters without spaces' })
  OTEL_SERVICE_NAME = 'agent-runtime';

  /** How long finished spans wait to be sent in a batch. */
  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(60_000)
  OTEL_BSP_SCHEDULE_DELAY = 5_000;
}
