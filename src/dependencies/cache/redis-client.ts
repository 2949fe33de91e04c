import { Redis, type RedisOptions } from 'ioredis';

/**
 * A fail-fast ioredis client for a cache that sits behind a circuit breaker.
 *
 * - Every command has a deadline (`commandTimeoutMs`, REDIS_COMMAND_TIMEOUT_MS, default 500).
 * - No offline queue: while the connection is down a command fails at once instead of waiting
 *   (and, worse, being sent later, after the caller was told it failed).
 * - No resend of unanswered commands after a reconnect, for the same reason: a SET that timed
 *   out and was reported as failed must not be replayed over a later DEL.
 * - `maxRetriesPerRequest: 0`: commands in flight when the connection drops fail immediately.
 * - Reconnects forever in the background with capped, jittered exponential backoff; the
 *   breaker, not the client, decides whether requests go to Redis.
 * - A connection that has commands waiting but receives nothing for `socketTimeoutMs` is
 *   considered dead and replaced (a blackholed peer would otherwise hold it for hours).
 * - Nothing is sent on connect beyond what the URL requires (AUTH, SELECT): no ready-check
 *   INFO, no CLIENT SETINFO. So reconnecting while the breaker is open sends Redis no command.
 * - Construction never throws for connection problems and never connects synchronously;
 *   'error' events are always handled (a process never dies of a Redis outage) and only
 *   reach the optional `onEvent` hook, with credentials scrubbed from the message.
 */

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379/0';
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 500;

export interface RedisClientOptions {
  /** redis:// or rediss:// URL (REDIS_URL). Query parameters are not accepted. */
  url?: string;
  /** Per-command deadline in ms (REDIS_COMMAND_TIMEOUT_MS). Default 500. */
  commandTimeoutMs?: number;
  /** TCP connect deadline in ms. Default max(1000, 2 x commandTimeoutMs). */
  connectTimeoutMs?: number;
  /** Reconnect backoff: first delay and cap, ms. Defaults 50 and 2000. */
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  /**
   * A connection with pending commands that receives no byte for this long is destroyed and
   * reconnected. Default max(2000, 4 x commandTimeoutMs); null disables.
   */
  socketTimeoutMs?: number | null;
  /** Start connecting right away (default true). The connect never throws. */
  autoConnect?: boolean;
  /** Extra ioredis options (the invalidation connection turns autoResubscribe off). */
  ioredis?: Partial<RedisOptions>;
  /** Connection lifecycle hook (errors are NOT logged by this module). Never receives secrets. */
  onEvent?: (event: RedisClientEvent) => void;
}

export type RedisClientEvent =
  | { type: 'connect' | 'ready' | 'close' | 'end' }
  | { type: 'reconnecting'; delayMs: number }
  | { type: 'error'; message: string; code: string | undefined };

export class RedisUrlError extends Error {
  override readonly name = 'RedisUrlError';
  constructor(message: string) {
    super(`REDIS_URL: ${message}`);
  }
}

export interface ParsedRedisUrl {
  host: string;
  port: number;
  db: number;
  username: string | undefined;
  password: string | undefined;
  tls: boolean;
}

/** Parses a redis:// or rediss:// URL. Throws RedisUrlError (never echoing credentials). */
export function parseRedisUrl(url: string): ParsedRedisUrl {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RedisUrlError(`not a valid URL: ${redactRedisUrl(url)}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new RedisUrlError(`expected redis:// or rediss://, got ${redactRedisUrl(url)}`);
  }
  if (parsed.search !== '' || parsed.hash !== '') {
    throw new RedisUrlError(
      `query parameters and fragments are not supported: ${redactRedisUrl(url)}`,
    );
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new RedisUrlError(`missing host: ${redactRedisUrl(url)}`);
  const port = parsed.port === '' ? 6379 : Number(parsed.port);
  const dbText = parsed.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!/^\d*$/.test(dbText) || !Number.isSafeInteger(db)) {
    throw new RedisUrlError(`the path must be a database number: ${redactRedisUrl(url)}`);
  }
  const decode = (s: string): string | undefined => (s === '' ? undefined : decodeURIComponent(s));
  return {
    host,
    port,
    db,
    username: decode(parsed.username),
    password: decode(parsed.password),
    tls: parsed.protocol === 'rediss:',
  };
}

const SENSITIVE_QUERY = /pass|auth|user|token|secret|key|cred/i;

/**
 * The URL with credentials removed, for logs, health and metrics:
 * `redis://user:pw@host:6379/0` -> `redis://***@host:6379/0`. Sensitive query values are
 * masked too. Something that does not parse is never echoed back.
 */
export function redactRedisUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '<invalid url>';
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') return '<invalid url>';
  const hadCredentials = parsed.username !== '' || parsed.password !== '';
  parsed.username = '';
  parsed.password = '';
  for (const key of [...parsed.searchParams.keys()]) {
    if (SENSITIVE_QUERY.test(key)) parsed.searchParams.set(key, '***');
  }
  const text = parsed.toString();
  return hadCredentials ? text.replace('//', '//***@') : text;
}

/** Capped exponential backoff with jitter (between half and all of the step). */
export function reconnectDelay(attempt: number, baseMs: number, maxMs: number): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.round(step / 2 + (Math.random() * step) / 2);
}

/** Removes anything that looks like the configured credentials from a message. */
function scrub(message: string, secrets: readonly (string | undefined)[]): string {
  let out = message;
  for (const secret of secrets) {
    if (secret !== undefined && secret.length > 0) out = out.split(secret).join('***');
  }
  return out;
}

/** The deadlines and reconnect pacing a standalone and a cluster client resolve alike. */
export interface ClientTimings {
  commandTimeout: number;
  /** Connect deadline, ms: max(1000, 2 x command timeout) unless given. */
  connectTimeout: number;
  /** Undefined when disabled (socketTimeoutMs: null). */
  socketTimeout: number | undefined;
  /** Capped, jittered delay before reconnect attempt `attempt`. */
  reconnect: (attempt: number) => number;
}

export function clientTimings(
  options: Pick<
    RedisClientOptions,
    | 'commandTimeoutMs'
    | 'connectTimeoutMs'
    | 'socketTimeoutMs'
    | 'reconnectBaseMs'
    | 'reconnectMaxMs'
  >,
): ClientTimings {
  const commandTimeout = options.commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS;
  if (!(Number.isFinite(commandTimeout) && commandTimeout > 0)) {
    throw new RangeError(`REDIS_COMMAND_TIMEOUT_MS: expected a number > 0, got ${commandTimeout}`);
  }
  const baseMs = options.reconnectBaseMs ?? 50;
  const maxMs = options.reconnectMaxMs ?? 2_000;
  const socketTimeout =
    options.socketTimeoutMs === undefined
      ? Math.max(2_000, 4 * commandTimeout)
      : (options.socketTimeoutMs ?? undefined);
  return {
    commandTimeout,
    connectTimeout: options.connectTimeoutMs ?? Math.max(1_000, 2 * commandTimeout),
    socketTimeout,
    reconnect: (attempt) => reconnectDelay(attempt, baseMs, maxMs),
  };
}

/**
 * The fail-fast rules of one Redis connection, shared by the standalone client and every node
 * connection of the Cluster client: the deadlines, no resend of unanswered commands, nothing
 * sent on connect beyond AUTH/SELECT.
 */
export function failFastConnectionOptions(timings: ClientTimings): RedisOptions {
  const { commandTimeout, connectTimeout, socketTimeout } = timings;
  return {
    commandTimeout: Math.ceil(commandTimeout),
    connectTimeout: Math.ceil(connectTimeout),
    ...(socketTimeout === undefined ? {} : { socketTimeout: Math.ceil(socketTimeout) }),
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    enableReadyCheck: false,
    disableClientInfo: true,
    keepAlive: 10_000,
    noDelay: true,
    // Never reconnect-and-resend on reply errors (READONLY etc.): the breaker handles them.
    reconnectOnError: () => false,
  };
}

/** The ioredis options this module uses (exported for tests and documentation). */
export function redisClientOptions(options: RedisClientOptions = {}): RedisOptions {
  const target = parseRedisUrl(options.url ?? DEFAULT_REDIS_URL);
  const timings = clientTimings(options);
  return {
    host: target.host,
    port: target.port,
    db: target.db,
    username: target.username,
    password: target.password,
    ...(target.tls ? { tls: { servername: target.host } } : {}),
    lazyConnect: true,
    ...failFastConnectionOptions(timings),
    enableOfflineQueue: false,
    retryStrategy: timings.reconnect,
    ...options.ioredis,
  };
}

/** Creates the client (never throws for connection problems). `quit()`/`disconnect()` it. */
export function createRedisClient(options: RedisClientOptions = {}): Redis {
  const redisOptions = redisClientOptions(options);
  const client = new Redis(redisOptions);
  const secrets = [redisOptions.password, redisOptions.username];
  const emit = options.onEvent;
  client.on('error', (err: unknown) => {
    if (emit === undefined) return;
    const e = err as { message?: unknown; code?: unknown };
    safe(() =>
      emit({
        type: 'error',
        message: scrub(String(e?.message ?? err), secrets),
        code: typeof e?.code === 'string' ? e.code : undefined,
      }),
    );
  });
  if (emit !== undefined) {
    for (const type of ['connect', 'ready', 'close', 'end'] as const) {
      client.on(type, () => safe(() => emit({ type })));
    }
    client.on('reconnecting', (delayMs: number) =>
      safe(() => emit({ type: 'reconnecting', delayMs })),
    );
  }
  if (options.autoConnect ?? true) client.connect().catch(() => {});
  return client;
}

function safe(fn: () => void): void {
  try {
    fn();
  } catch {
    // A broken hook must not break the client.
  }
}

/** Resolves true once the client is ready, false after `timeoutMs` (never rejects). */
export function waitForRedisReady(client: Redis, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  if (client.status === 'end') return Promise.resolve(false);
  return new Promise((resolve) => {
    const onReady = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    timer.unref?.();
    client.once('ready', onReady);
  });
}

/**
 * Closes the client: a polite QUIT bounded by `timeoutMs`, then a hard disconnect that also
 * stops reconnecting. Never rejects; idempotent.
 */
export async function closeRedisClient(client: Redis, timeoutMs = 500): Promise<void> {
  if (client.status === 'end') return;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  try {
    if (client.status === 'ready') await Promise.race([client.quit().catch(() => {}), deadline]);
    // Stops reconnecting too. If the socket is already gone (between reconnects), 'end' may
    // never come: then the cleared reconnect timer is what matters, so the wait is bounded.
    const socketOpen = ['connecting', 'connect', 'ready'].includes(client.status);
    client.disconnect(false);
    if (socketOpen) await Promise.race([ended, deadline]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
