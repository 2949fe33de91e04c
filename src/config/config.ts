import { resolve } from 'node:path';
import { z } from 'zod';
import {
  parseClusterSeeds,
  type ParsedClusterSeeds,
} from '../dependencies/cache/cluster/cluster-seeds.js';
import { parseRedisUrl, redactRedisUrl } from '../dependencies/cache/redis-client.js';
import {
  DEFAULT_CODE_MODEL,
  DEFAULT_LOAD_TIMEOUT_MS,
  DEFAULT_MODELS_DIR,
  DEFAULT_TEXT_MODEL,
  type EmbeddingServiceOptions,
} from '../dependencies/embeddings/embedding-service.js';

/** Breaker names the service creates; CRITICAL_CIRCUITS must name only these. */
export const REDIS_BREAKER = 'redis_cache';
export const EMBEDDING_BREAKER = 'embedding_service';
export const SERVICE_BREAKERS = [REDIS_BREAKER, EMBEDDING_BREAKER] as const;

/** An environment variable is invalid; start-up stops with this message. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`Invalid configuration: ${variable} ${message}`);
  }
}

/** The embedding service's model settings, as read from the environment. */
export type EmbeddingEnvConfig = Required<
  Pick<
    EmbeddingServiceOptions,
    'textModel' | 'codeModel' | 'modelsDir' | 'allowDownload' | 'quantized' | 'loadTimeoutMs'
  >
>;

export interface BreakerSettings {
  failureThreshold: number;
  /** Milliseconds (the variable is in seconds, fractional allowed). */
  recoveryTimeoutMs: number;
  halfOpenMaxCalls: number;
}

export interface Config {
  host: string;
  port: number;
  redis: {
    url: string;
    /** For logs, health and metrics: the URL without credentials. */
    displayUrl: string;
    commandTimeoutMs: number;
    breaker: BreakerSettings;
    /**
     * Set when REDIS_CLUSTER_NODES is: the L2 is that Redis Cluster, and `url` is ignored.
     * Credentials and TLS come from the seeds' URL form (see cluster-seeds.ts); `display` is
     * the secret-free form for logs and health.
     */
    cluster: ParsedClusterSeeds | undefined;
  };
  cache: {
    l1MaxEntries: number;
    l1MaxBytes: number;
    /** Longest time a value stays in L1 (a backstop: tracking invalidates it). */
    l1MaxTtlMs: number;
    /** This replica's invalidation journal (CACHE_JOURNAL_DIR). */
    journalDir: string;
    journalMaxEntries: number;
  };
  embedding: EmbeddingEnvConfig & { warmUp: boolean; breaker: BreakerSettings };
  criticalCircuits: string[];
  adminToken: string | undefined;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  logSummaryIntervalMs: number;
  bodyLimitBytes: number;
  otel: {
    serviceName: string;
    tracesExporter: 'otlp' | 'console' | 'none';
    prometheusHost: string;
    prometheusPort: number;
  };
}

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\s*\d+\s*$/, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const seconds = (min: number) =>
  z
    .string()
    .regex(/^\s*\d+(\.\d+)?\s*$/, 'must be a number of seconds (fractions allowed)')
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, `must be at least ${min} seconds`)
        .max(86_400 * 365, 'is too large'),
    );

const oneOf = <T extends string>(values: readonly [T, ...T[]]) =>
  z.preprocess(
    (v) => (typeof v === 'string' ? v.trim().toLowerCase() : v),
    z.enum(values, { message: `must be one of: ${values.join(', ')}` }),
  );

const text = z.string();

/** A model id or directory: no surrounding white space (a pasted value with a stray space). */
const modelRef = (fallback: string) =>
  z
    .string()
    .refine((v) => v.trim() === v, 'must be a model id or directory without surrounding spaces')
    .default(fallback);

const bool = (fallback: boolean) =>
  z
    .string()
    .transform((v) => v.trim().toLowerCase())
    .pipe(z.enum(['true', '1', 'yes', 'false', '0', 'no'], { message: 'must be true or false' }))
    .transform((v) => v === 'true' || v === '1' || v === 'yes')
    .default(fallback);

// Parsed here so that its error (already free of credentials) is the one start-up prints.
const redisUrl = z
  .string()
  .superRefine((url, ctx) => {
    try {
      parseRedisUrl(url);
    } catch (error) {
      const reason = (error instanceof Error ? error.message : String(error)).replace(
        /^REDIS_URL: /,
        '',
      );
      ctx.addIssue({
        code: 'custom',
        message: `is not a valid redis:// or rediss:// URL (${reason})`,
      });
    }
  })
  .default('redis://127.0.0.1:6379/0');

// Parsed here too, for the same reason; the message names the entry, never its credentials.
const redisClusterNodes = z.string().superRefine((value, ctx) => {
  try {
    parseClusterSeeds(value);
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).replace(
      /^REDIS_CLUSTER_NODES: /,
      '',
    );
    ctx.addIssue({ code: 'custom', message: `is not a valid list of cluster seeds: ${reason}` });
  }
});

/** Variables whose value is never echoed in an error: they may carry a secret. */
const SECRET_VARIABLES = new Set(['ADMIN_TOKEN', 'REDIS_URL', 'REDIS_CLUSTER_NODES']);

const schema = z.object({
  HOST: text.default('0.0.0.0'),
  PORT: integer(0, 65_535).default(8001),
  REDIS_URL: redisUrl,
  REDIS_CLUSTER_NODES: redisClusterNodes.optional(),
  REDIS_COMMAND_TIMEOUT_MS: integer(1, 60_000).default(500),
  REDIS_CIRCUIT_FAILURE_THRESHOLD: integer(1, 1_000_000).default(5),
  REDIS_CIRCUIT_RECOVERY_TIMEOUT: seconds(0).default(30),
  REDIS_CIRCUIT_HALF_OPEN_CALLS: integer(1, 10_000).default(1),
  EMBEDDING_CIRCUIT_FAILURE_THRESHOLD: integer(1, 1_000_000).default(3),
  EMBEDDING_CIRCUIT_RECOVERY_TIMEOUT: seconds(0).default(60),
  EMBEDDING_CIRCUIT_HALF_OPEN_CALLS: integer(1, 10_000).default(1),
  CACHE_L1_MAX_ENTRIES: integer(1, 100_000_000).default(10_000),
  CACHE_L1_MAX_BYTES: integer(1_024, 2 ** 40).default(64 * 1024 * 1024),
  CACHE_L1_MAX_TTL: seconds(0.001).default(60),
  // Default: <working directory>/.cache-journal/port-<PORT> (one directory per replica).
  CACHE_JOURNAL_DIR: text.optional(),
  CACHE_JOURNAL_MAX_ENTRIES: integer(1, 10_000_000).default(50_000),
  CRITICAL_CIRCUITS: text.default(EMBEDDING_BREAKER),
  ADMIN_TOKEN: text.optional(),
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  CIRCUIT_LOG_SUMMARY_INTERVAL: seconds(1).default(60),
  BODY_LIMIT_BYTES: integer(1_024, 64 * 1024 * 1024).default(1024 * 1024),
  EMBEDDING_MODEL: modelRef(DEFAULT_TEXT_MODEL),
  CODE_EMBEDDING_MODEL: modelRef(DEFAULT_CODE_MODEL),
  MODELS_DIR: modelRef(DEFAULT_MODELS_DIR),
  // Off by default: the service must start with no network. True lets a missing model id be
  // downloaded from the model hub into MODELS_DIR.
  EMBEDDING_ALLOW_DOWNLOAD: bool(false),
  // Load onnx/model_quantized.onnx (true) or onnx/model.onnx (false).
  EMBEDDING_QUANTIZED: bool(true),
  // Load both models at start-up, retrying transient failures (else on first use).
  EMBEDDING_WARM_UP: bool(true),
  // Limit per model load attempt.
  EMBEDDING_LOAD_TIMEOUT: seconds(0.001).default(DEFAULT_LOAD_TIMEOUT_MS / 1000),
  OTEL_SERVICE_NAME: text.default('breakerbox'),
  OTEL_TRACES_EXPORTER: oneOf(['otlp', 'console', 'none']).default('none'),
  OTEL_EXPORTER_PROMETHEUS_HOST: text.default('0.0.0.0'),
  OTEL_EXPORTER_PROMETHEUS_PORT: integer(0, 65_535).default(9464),
});

/** Where a replica keeps its invalidation journal unless CACHE_JOURNAL_DIR says otherwise. */
export function defaultJournalDir(port: number): string {
  return resolve(process.cwd(), '.cache-journal', `port-${port}`);
}

/** Reads and validates the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // A blank variable counts as unset, so `FOO=` in a compose file means "use the default".
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ''),
  );
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    const shown = SECRET_VARIABLES.has(variable) ? '' : ` (got ${JSON.stringify(env[variable])})`;
    throw new ConfigError(variable, `${issue.message}${shown}`);
  }
  const e = parsed.data;
  const embedding: EmbeddingEnvConfig = {
    textModel: e.EMBEDDING_MODEL,
    codeModel: e.CODE_EMBEDDING_MODEL,
    modelsDir: e.MODELS_DIR,
    allowDownload: e.EMBEDDING_ALLOW_DOWNLOAD,
    quantized: e.EMBEDDING_QUANTIZED,
    loadTimeoutMs: e.EMBEDDING_LOAD_TIMEOUT * 1000,
  };
  const embeddingWarmUp = e.EMBEDDING_WARM_UP;

  const criticalCircuits = e.CRITICAL_CIRCUITS.split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
  for (const name of criticalCircuits) {
    if (!(SERVICE_BREAKERS as readonly string[]).includes(name)) {
      // A misspelt name (the original design's "embedding") would silently match nothing.
      throw new ConfigError(
        'CRITICAL_CIRCUITS',
        `names an unknown circuit breaker ${JSON.stringify(name)}; known: ${SERVICE_BREAKERS.join(', ')}`,
      );
    }
  }

  if (e.ADMIN_TOKEN !== undefined && e.ADMIN_TOKEN.length < 16) {
    throw new ConfigError('ADMIN_TOKEN', 'must be at least 16 characters when set');
  }

  const cluster =
    e.REDIS_CLUSTER_NODES === undefined ? undefined : parseClusterSeeds(e.REDIS_CLUSTER_NODES);
  return {
    host: e.HOST,
    port: e.PORT,
    redis: {
      url: e.REDIS_URL,
      // With REDIS_CLUSTER_NODES: the seeds, credentials cut.
      displayUrl: cluster?.display ?? redactRedisUrl(e.REDIS_URL),
      commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
      breaker: {
        failureThreshold: e.REDIS_CIRCUIT_FAILURE_THRESHOLD,
        recoveryTimeoutMs: e.REDIS_CIRCUIT_RECOVERY_TIMEOUT * 1000,
        halfOpenMaxCalls: e.REDIS_CIRCUIT_HALF_OPEN_CALLS,
      },
      cluster,
    },
    cache: {
      l1MaxEntries: e.CACHE_L1_MAX_ENTRIES,
      l1MaxBytes: e.CACHE_L1_MAX_BYTES,
      l1MaxTtlMs: e.CACHE_L1_MAX_TTL * 1000,
      journalDir: resolve(e.CACHE_JOURNAL_DIR ?? defaultJournalDir(e.PORT)),
      journalMaxEntries: e.CACHE_JOURNAL_MAX_ENTRIES,
    },
    embedding: {
      ...embedding,
      warmUp: embeddingWarmUp,
      breaker: {
        failureThreshold: e.EMBEDDING_CIRCUIT_FAILURE_THRESHOLD,
        recoveryTimeoutMs: e.EMBEDDING_CIRCUIT_RECOVERY_TIMEOUT * 1000,
        halfOpenMaxCalls: e.EMBEDDING_CIRCUIT_HALF_OPEN_CALLS,
      },
    },
    criticalCircuits,
    adminToken: e.ADMIN_TOKEN,
    logLevel: e.LOG_LEVEL,
    logSummaryIntervalMs: e.CIRCUIT_LOG_SUMMARY_INTERVAL * 1000,
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    otel: {
      serviceName: e.OTEL_SERVICE_NAME,
      tracesExporter: e.OTEL_TRACES_EXPORTER,
      prometheusHost: e.OTEL_EXPORTER_PROMETHEUS_HOST,
      prometheusPort: e.OTEL_EXPORTER_PROMETHEUS_PORT,
    },
  };
}
