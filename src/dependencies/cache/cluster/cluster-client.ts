import { Cluster, type ClusterOptions, type Redis } from 'ioredis';
import { clientTimings, failFastConnectionOptions } from '../redis-client.js';
import { parseClusterSeeds, type ClusterSeed } from './cluster-seeds.js';

/**
 * A fail-fast ioredis Cluster client for a cache whose shards each sit behind their own
 * circuit breaker: the Cluster counterpart of createRedisClient (redis-client.ts), with the
 * same rules per node connection.
 *
 * - Every command has a deadline (`commandTimeoutMs`) on the node that serves it.
 * - No offline queue at the cluster level: while the client has no slot map, or the node that
 *   owns a key is reconnecting, the command fails at once ("Connection is closed." /
 *   "Cluster isn't ready ...") instead of waiting. So a dead master costs its own keys a fast
 *   failure (which opens that shard's breaker) and nothing else.
 * - No resend of unanswered commands (`autoResendUnfulfilledCommands: false`,
 *   `maxRetriesPerRequest: 0`), and no delayed retry on a closed connection, CLUSTERDOWN or
 *   TRYAGAIN (`retryDelayOnFailover/ClusterDown: 0`): a SET reported as failed is never sent
 *   later. MOVED and ASK redirects are followed by ioredis at once (up to `maxRedirections`),
 *   since the command has not run anywhere yet.
 * - Each node connection reconnects forever with capped, jittered backoff
 *   (`clusterNodeRetryStrategy`; without it ioredis drops a node at its first disconnect and
 *   then routes that shard's commands to a random node to collect a MOVED). The cluster as a
 *   whole reconnects the same way (`clusterRetryStrategy`).
 * - The slot map is refreshed every `slotsRefreshIntervalMs` (so a failover is picked up even
 *   with no traffic), on every MOVED, and as soon as a node connection closes.
 * - No ready check (`CLUSTER INFO` must not hold a partial cluster back: with one master down,
 *   the others must serve), no CLIENT SETINFO, no INFO on connect.
 * - Master connections are opened as soon as the slot map names them, not on the first command,
 *   so the first requests of each shard do not fail on a connection still being set up.
 * - Construction never throws for connection problems; 'error' and 'node error' are always
 *   handled and only reach `onEvent`, with credentials scrubbed.
 */

export interface ClusterClientOptions {
  /** Seed nodes (REDIS_CLUSTER_NODES): parsed seeds, or `host:port` strings. */
  seeds: readonly ClusterSeed[] | readonly string[];
  /** Per-command deadline in ms (REDIS_COMMAND_TIMEOUT_MS). Default 500. */
  commandTimeoutMs?: number;
  username?: string;
  password?: string;
  /** TLS to every node (`rediss://` seeds). */
  tls?: boolean;
  /** TCP connect deadline per node, ms. Default max(1000, 2 x commandTimeoutMs). */
  connectTimeoutMs?: number;
  /** Reconnect backoff (nodes and cluster): first delay and cap, ms. Defaults 50 and 2000. */
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  /** Like createRedisClient's: default max(2000, 4 x commandTimeoutMs); null disables. */
  socketTimeoutMs?: number | null;
  /** Periodic slot-map refresh, ms. Default 2000. */
  slotsRefreshIntervalMs?: number;
  /** Deadline of one CLUSTER SLOTS query, ms. Default max(1000, commandTimeoutMs). */
  slotsRefreshTimeoutMs?: number;
  /** Start connecting right away (default true). The connect never throws. */
  autoConnect?: boolean;
  /** Connection and slot-map events (errors are NOT logged by this module). No secrets. */
  onEvent?: (event: ClusterClientEvent) => void;
}

/** `node` is always `host:port` as the slot map names it. */
export type ClusterClientEvent =
  /** The cluster client as a whole (has a slot map and serves: 'ready'). */
  | { type: 'connect' | 'ready' | 'close' | 'end' }
  | { type: 'reconnecting'; delayMs: number }
  | { type: 'error'; message: string; code: string | undefined }
  /** The slot map was (re)read from the cluster. */
  | { type: 'refresh' }
  /** A node connection joined or left the client's pool (left: no longer in the slot map). */
  | { type: 'node_added' | 'node_removed'; node: string }
  /** One node connection came up ('node_ready') or dropped ('node_close'). */
  | { type: 'node_ready' | 'node_close'; node: string }
  | { type: 'node_error'; node: string; message: string; code: string | undefined };

function toSeeds(seeds: ClusterClientOptions['seeds']): ClusterSeed[] {
  if (seeds.length === 0) throw new RangeError('createClusterClient: at least one seed is needed');
  if (typeof seeds[0] === 'string') return parseClusterSeeds(seeds.join(',')).seeds;
  return (seeds as readonly ClusterSeed[]).map((s) => ({ host: s.host, port: s.port }));
}

/** The ioredis Cluster options this module uses (exported for tests and documentation). */
export function clusterClientOptions(
  options: Omit<ClusterClientOptions, 'seeds' | 'onEvent'> = {},
): ClusterOptions {
  const timings = clientTimings(options);
  const { commandTimeout, reconnect: backoff } = timings;
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    scaleReads: 'master',
    maxRedirections: 16,
    retryDelayOnMoved: 0,
    retryDelayOnFailover: 0,
    retryDelayOnClusterDown: 0,
    retryDelayOnTryAgain: 0,
    slotsRefreshTimeout: Math.ceil(
      options.slotsRefreshTimeoutMs ?? Math.max(1_000, commandTimeout),
    ),
    slotsRefreshInterval: Math.ceil(options.slotsRefreshIntervalMs ?? 2_000),
    clusterRetryStrategy: backoff,
    clusterNodeRetryStrategy: backoff,
    redisOptions: {
      username: options.username,
      password: options.password,
      ...(options.tls === true ? { tls: {} } : {}),
      ...failFastConnectionOptions(timings),
    },
  };
}

/** `host:port` of a node connection, as the slot map names it. */
export function nodeKey(node: Redis): string {
  return `${node.options.host ?? '127.0.0.1'}:${node.options.port ?? 6379}`;
}

function scrub(message: string, secrets: readonly (string | undefined)[]): string {
  let out = message;
  for (const secret of secrets) {
    if (secret !== undefined && secret.length > 0) out = out.split(secret).join('***');
  }
  return out;
}

function errorFields(
  err: unknown,
  secrets: readonly (string | undefined)[],
): { message: string; code: string | undefined } {
  const e = err as { message?: unknown; code?: unknown } | undefined;
  return {
    message: scrub(String(e?.message ?? err), secrets),
    code: typeof e?.code === 'string' ? e.code : undefined,
  };
}

function safe(fn: () => void): void {
  try {
    fn();
  } catch {
    // A broken hook must not break the client.
  }
}

/** Creates the Cluster client (never throws for connection problems). Close it with closeClusterClient. */
export function createClusterClient(options: ClusterClientOptions): Cluster {
  const clusterOptions = clusterClientOptions(options);
  const cluster = new Cluster(toSeeds(options.seeds), clusterOptions);
  const secrets = [options.password, options.username];
  const emit = (event: ClusterClientEvent): void => {
    if (options.onEvent !== undefined) safe(() => options.onEvent!(event));
  };

  cluster.on('error', (err: unknown) => emit({ type: 'error', ...errorFields(err, secrets) }));
  cluster.on('node error', (err: unknown, node: unknown) =>
    emit({ type: 'node_error', node: String(node), ...errorFields(err, secrets) }),
  );
  for (const type of ['connect', 'ready', 'close', 'end'] as const) {
    cluster.on(type, () => emit({ type }));
  }
  cluster.on('reconnecting', (delayMs: number) => emit({ type: 'reconnecting', delayMs }));

  let refreshQueued = false;
  const refreshSoon = (): void => {
    if (refreshQueued || cluster.status !== 'ready') return;
    refreshQueued = true;
    setTimeout(() => {
      refreshQueued = false;
      if (cluster.status === 'ready') cluster.refreshSlotsCache();
    }, 50).unref();
  };

  cluster.on('+node', (node: Redis) => {
    const key = nodeKey(node);
    emit({ type: 'node_added', node: key });
    node.on('ready', () => emit({ type: 'node_ready', node: key }));
    node.on('close', () => {
      emit({ type: 'node_close', node: key });
      refreshSoon(); // a master gone may mean a failover: learn the new owner without waiting
    });
  });
  cluster.on('-node', (node: Redis) => emit({ type: 'node_removed', node: nodeKey(node) }));

  const connectMasters = (): void => {
    for (const node of cluster.nodes('master')) {
      if (node.status === 'wait') node.connect().catch(() => {});
    }
  };
  cluster.on('refresh', () => {
    emit({ type: 'refresh' });
    connectMasters();
  });
  cluster.on('ready', connectMasters);

  if (options.autoConnect ?? true) cluster.connect().catch(() => {});
  return cluster;
}

/**
 * Resolves true once the client has a slot map and a ready connection to every master it names,
 * false after `timeoutMs` (never rejects). Use at start-up; a partial cluster answers false
 * but still serves its healthy shards.
 */
export async function waitForClusterReady(cluster: Cluster, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cluster.status === 'end') return false;
    const masters = cluster.status === 'ready' ? cluster.nodes('master') : [];
    if (masters.length > 0 && masters.every((n) => n.status === 'ready')) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Closes the client: QUIT bounded by `timeoutMs`, then a hard disconnect. Never rejects. */
export async function closeClusterClient(cluster: Cluster, timeoutMs = 500): Promise<void> {
  if (cluster.status === 'end') return;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  try {
    if (cluster.status === 'ready') await Promise.race([cluster.quit().catch(() => {}), deadline]);
    cluster.disconnect(false);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
