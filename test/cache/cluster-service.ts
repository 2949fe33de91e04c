import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import calculateSlot from 'cluster-key-slot';
import {
  waitFor,
  type ClusterNodeInfo,
  type RedisCluster,
  type ServiceProcess,
} from '@breakerbox/devkit';

// What the tests of the service on a real Redis Cluster share: its environment, which shard
// a key lands on, and small HTTP helpers.

export const NAMESPACE = 'bb:v1:';
export const ADMIN_TOKEN = 'cluster-test-token';

export function clusterEnv(cluster: RedisCluster): Record<string, string> {
  return {
    REDIS_CLUSTER_NODES: cluster.seeds.slice(0, 2).join(','),
    REDIS_COMMAND_TIMEOUT_MS: '200',
    REDIS_CIRCUIT_FAILURE_THRESHOLD: '3',
    REDIS_CIRCUIT_RECOVERY_TIMEOUT: '0.5',
    CACHE_JOURNAL_DIR: mkdtempSync(join(tmpdir(), 'bb-cluster-journal-')),
    LOG_LEVEL: 'warn',
    ADMIN_TOKEN,
  };
}

/** The shard id (lowest slot of its master) of a cache key. */
export function shardOf(masters: ClusterNodeInfo[], key: string): number {
  const slot = calculateSlot(NAMESPACE + key);
  const owner = masters.find((m) => m.slots.some(([a, b]) => slot >= a && slot <= b))!;
  return Math.min(...owner.slots.map(([a]) => a));
}

export function masterOf(masters: ClusterNodeInfo[], shard: number): ClusterNodeInfo {
  return masters.find((m) => m.slots.some(([a]) => a === shard))!;
}

/** `count` keys per shard id. */
export function keysByShard(
  masters: ClusterNodeInfo[],
  prefix: string,
  count: number,
): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (let i = 0; [...out.values()].filter((k) => k.length >= count).length < 3; i++) {
    const key = `${prefix}:${i}`;
    const shard = shardOf(masters, key);
    const list = out.get(shard) ?? [];
    if (list.length < count) list.push(key);
    out.set(shard, list);
  }
  return out;
}

export async function state(service: ServiceProcess, name: string): Promise<string | undefined> {
  const r = await service.json(`/v1/circuit-breakers/${name}`);
  return r.status === 200 ? (r.body as { state: string }).state : undefined;
}

export async function shardNames(service: ServiceProcess): Promise<string[]> {
  const r = await service.json('/v1/circuit-breakers');
  const body = r.body as Record<string, unknown> | Array<{ name: string }>;
  const names = Array.isArray(body) ? body.map((b) => b.name) : Object.keys(body);
  return names.filter((n) => n.startsWith('redis_cache:')).sort();
}

export async function put(service: ServiceProcess, key: string, value: unknown) {
  return service.json(`/v1/cache/${key}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ value }),
  });
}

export async function admin(service: ServiceProcess, breaker: string, action: string) {
  return service.json(`/admin/circuit-breakers/${breaker}/${action}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
}

/** One unlabelled gauge or counter of the service's Prometheus endpoint. */
export async function metric(service: ServiceProcess, name: string): Promise<number> {
  const text = await (await fetch(service.metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no ${name} in /metrics`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Every shard breaker exists and the service reaches every master. */
export async function serving(service: ServiceProcess, masters: ClusterNodeInfo[]): Promise<void> {
  const keys = keysByShard(masters, 'warm', 1);
  await waitFor(
    async () => {
      if ((await shardNames(service)).length !== masters.length) return false;
      for (const [, [key]] of keys) {
        const r = await put(service, key!, 'warm');
        if (r.status !== 200 || r.body.stored.l2 !== true) return false;
      }
      return true;
    },
    { timeoutMs: 20_000, intervalMs: 100, message: 'the service serving every shard' },
  );
}
