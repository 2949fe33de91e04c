/**
 * REDIS_CLUSTER_NODES: the seed nodes of a Redis Cluster, `host:port,host:port,...`.
 *
 * Each entry is `host:port` (an IPv6 host in brackets, `[::1]:7000`), or the same written as
 * a URL, `redis://host:port` or `rediss://user:password@host:port`, so credentials and TLS are
 * given exactly as in REDIS_URL. Credentials and the scheme may be written on one entry only
 * (they apply to every node the client discovers, not just the seeds); if several entries
 * carry them they must agree. Errors never echo a credential.
 *
 * Seeds are only where the client starts: it learns the full node list from CLUSTER SLOTS, so
 * two or three seeds are enough for any cluster size.
 */

export const MAX_CLUSTER_SEEDS = 64;

export interface ClusterSeed {
  host: string;
  port: number;
}

export interface ParsedClusterSeeds {
  seeds: ClusterSeed[];
  username: string | undefined;
  password: string | undefined;
  tls: boolean;
  /** For logs, health and metrics: `host:port,...`, with `rediss://` when TLS, never secrets. */
  display: string;
}

export class ClusterSeedsError extends Error {
  override readonly name = 'ClusterSeedsError';
  constructor(message: string) {
    super(`REDIS_CLUSTER_NODES: ${message}`);
  }
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?$/;
const IPV6 = /^[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?$/;

/** A host as it can be shown: URL credentials cut off, never the raw entry. */
function shown(entry: string): string {
  const at = entry.lastIndexOf('@');
  const rest = at >= 0 ? `***@${entry.slice(at + 1)}` : entry;
  return JSON.stringify(rest.length > 80 ? `${rest.slice(0, 80)}...` : rest);
}

/** Parses REDIS_CLUSTER_NODES. Throws ClusterSeedsError naming the bad entry (secrets cut). */
export function parseClusterSeeds(value: string): ParsedClusterSeeds {
  const entries = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (entries.length === 0) throw new ClusterSeedsError('expected host:port[,host:port...]');
  if (entries.length > MAX_CLUSTER_SEEDS) {
    throw new ClusterSeedsError(`at most ${MAX_CLUSTER_SEEDS} seeds, got ${entries.length}`);
  }
  const seeds: ClusterSeed[] = [];
  const seen = new Set<string>();
  let scheme: 'redis' | 'rediss' | undefined;
  let credentials: { username: string | undefined; password: string | undefined } | undefined;

  entries.forEach((entry, index) => {
    const where = `entry ${index + 1} (${shown(entry)})`;
    let hostPort = entry;
    const urlMatch = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/.exec(entry);
    if (urlMatch !== null) {
      const protocol = urlMatch[1]!.toLowerCase();
      if (protocol !== 'redis' && protocol !== 'rediss') {
        throw new ClusterSeedsError(`${where}: expected host:port, redis:// or rediss://`);
      }
      if (scheme !== undefined && scheme !== protocol) {
        throw new ClusterSeedsError(`${where}: mixes redis:// and rediss:// seeds`);
      }
      scheme = protocol;
      let rest = urlMatch[2]!;
      if (rest.endsWith('/')) rest = rest.slice(0, -1);
      if (/[/?#]/.test(rest)) {
        throw new ClusterSeedsError(
          `${where}: a cluster seed takes no path (Cluster has only database 0), query or fragment`,
        );
      }
      const at = rest.lastIndexOf('@');
      if (at >= 0) {
        const userinfo = rest.slice(0, at);
        rest = rest.slice(at + 1);
        const colon = userinfo.indexOf(':');
        let username: string | undefined;
        let password: string | undefined;
        try {
          const decode = (s: string): string | undefined =>
            s === '' ? undefined : decodeURIComponent(s);
          username = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo);
          password = colon >= 0 ? decode(userinfo.slice(colon + 1)) : undefined;
        } catch {
          throw new ClusterSeedsError(`${where}: badly escaped credentials`);
        }
        // As in REDIS_URL (WHATWG URL rules): `user@` is a user name, `:password@` a password
        // for the default user.
        if (
          credentials !== undefined &&
          (credentials.username !== username || credentials.password !== password)
        ) {
          throw new ClusterSeedsError(`${where}: seeds carry different credentials`);
        }
        credentials = { username, password };
      }
      hostPort = rest;
    }
    const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(hostPort);
    if (match === null) {
      throw new ClusterSeedsError(`${where}: expected host:port (IPv6 as [addr]:port)`);
    }
    const host = match[1] ?? match[2]!;
    if (match[1] !== undefined ? !IPV6.test(host) : !HOSTNAME.test(host)) {
      throw new ClusterSeedsError(`${where}: ${JSON.stringify(host)} is not a valid host`);
    }
    const port = Number(match[3]);
    if (!(port >= 1 && port <= 65_535)) {
      throw new ClusterSeedsError(`${where}: port must be from 1 to 65535`);
    }
    const key = `${host.toLowerCase()}:${port}`;
    if (seen.has(key)) return;
    seen.add(key);
    seeds.push({ host, port });
  });

  const tls = scheme === 'rediss';
  const list = seeds.map((s) =>
    s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`,
  );
  const hasCredentials = credentials?.username !== undefined || credentials?.password !== undefined;
  return {
    seeds,
    username: credentials?.username,
    password: credentials?.password,
    tls,
    display: `${tls ? 'rediss://' : ''}${hasCredentials ? '***@' : ''}${list.join(',')}`,
  };
}
