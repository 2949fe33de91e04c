import { execFile } from 'node:child_process';
import { freePort } from './ports.js';
import { RedisProcess } from './redis-server.js';
import { sleep } from './wait.js';

/**
 * A private Redis Cluster for tests: `masters` (default 3) redis-server processes started with
 * `--cluster-enabled yes` on free loopback ports (each a RedisProcess, so the watchdog and the
 * exit hook apply), optionally one replica per master, joined with
 * `redis-cli --cluster create ... --cluster-yes`.
 *
 *   const cluster = await RedisCluster.start({ masters: 3, replicasPerMaster: 1 });
 *   cluster.seeds                        // ['127.0.0.1:40001', ...]
 *   await cluster.kill(masterPort);      // SIGKILL a master
 *   await cluster.waitForFailover(masterPort);   // its replica now owns the slots
 *   await cluster.restart(masterPort);   // same port, rejoins from its nodes.conf
 *   cluster.pause(masterPort);           // SIGSTOP: unreachable, data kept; resume() undoes it
 *   await stopAllClusters();             // in afterAll
 *
 * Defaults chosen for tests: `cluster-node-timeout` 1000 ms (failover within a few seconds),
 * `cluster-require-full-coverage no` (a dead master without a replica takes down only its own
 * slots, which is what a per-shard breaker is for; with `yes`, every node would refuse every
 * query with CLUSTERDOWN), and `cluster-replica-validity-factor 0` (a replica may always be
 * promoted, however long the link was down).
 */

export interface RedisClusterOptions {
  /** Number of masters (at least 3, as `redis-cli --cluster create` demands). Default 3. */
  masters?: number;
  /** Replicas per master: 0 or 1. Default 0. */
  replicasPerMaster?: 0 | 1;
  /** `cluster-node-timeout` in ms. Default 1000. */
  nodeTimeoutMs?: number;
  /** `cluster-require-full-coverage`. Default false (see above). */
  requireFullCoverage?: boolean;
  /** How long start(), restart() and the waits may take. Default 30 s. */
  timeoutMs?: number;
  /** Extra redis-server arguments for every node. */
  extraArgs?: readonly string[];
}

export type SlotRange = readonly [first: number, last: number];

export interface ClusterNodeInfo {
  /** The 40-character node id (stable across restarts: it lives in nodes.conf). */
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** For a replica: the id of its master. */
  masterId: string | undefined;
  /** Slot ranges this node serves (masters only; empty for replicas). */
  slots: SlotRange[];
  /** True when the node is flagged `fail` or `fail?` by the node that was asked. */
  failing: boolean;
  /** The raw flags, e.g. ['myself', 'master']. */
  flags: string[];
}

export const CLUSTER_SLOTS = 16_384;

const live = new Set<RedisCluster>();

interface Member {
  process: RedisProcess;
  busPort: number;
}

function redisCli(args: readonly string[], timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'redis-cli',
      args,
      { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`redis-cli ${args.join(' ')} failed: ${error.message}\n${stderr}`));
          return;
        }
        resolve(stdout);
      },
    );
  });
}

/** Parses `CLUSTER NODES` output (exported for tests). */
export function parseClusterNodes(text: string): ClusterNodeInfo[] {
  const nodes: ClusterNodeInfo[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    if (fields.length < 8) continue;
    const [id, address, flagText, master, , , , , ...slotFields] = fields as [
      string,
      string,
      string,
      string,
      ...string[],
    ];
    const port = Number(/:(\d+)@/.exec(address)?.[1] ?? NaN);
    const flags = flagText.split(',');
    const slots: SlotRange[] = [];
    for (const field of slotFields) {
      if (field.startsWith('[')) continue; // a migrating/importing marker
      const [a, b] = field.split('-');
      const first = Number(a);
      slots.push([first, b === undefined ? first : Number(b)]);
    }
    nodes.push({
      id,
      port,
      role: flags.includes('master') ? 'master' : 'replica',
      masterId: master === '-' ? undefined : master,
      slots,
      failing: flags.includes('fail') || flags.includes('fail?'),
      flags,
    });
  }
  return nodes.sort(
    (x, y) => (x.slots[0]?.[0] ?? CLUSTER_SLOTS) - (y.slots[0]?.[0] ?? CLUSTER_SLOTS),
  );
}

function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

export class RedisCluster {
  readonly host = '127.0.0.1';
  private readonly members: Member[];
  private stopped = false;

  private constructor(
    members: Member[],
    private readonly timeoutMs: number,
  ) {
    this.members = members;
  }

  static async start(options: RedisClusterOptions = {}): Promise<RedisCluster> {
    const masters = options.masters ?? 3;
    const replicas = options.replicasPerMaster ?? 0;
    if (!Number.isInteger(masters) || masters < 3) {
      throw new RangeError(`RedisCluster: masters must be an integer >= 3, got ${masters}`);
    }
    if (replicas !== 0 && replicas !== 1) {
      throw new RangeError(`RedisCluster: replicasPerMaster must be 0 or 1, got ${replicas}`);
    }
    const timeoutMs = options.timeoutMs ?? 30_000;
    const nodeTimeout = options.nodeTimeoutMs ?? 1_000;
    const count = masters * (1 + replicas);
    const members: Member[] = [];
    const cluster = new RedisCluster(members, timeoutMs);
    live.add(cluster);
    try {
      for (let i = 0; i < count; i++) {
        members.push(
          await startMember([
            '--cluster-enabled',
            'yes',
            // Relative to the instance's private --dir, so it survives restart().
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            String(nodeTimeout),
            '--cluster-require-full-coverage',
            options.requireFullCoverage === true ? 'yes' : 'no',
            '--cluster-replica-validity-factor',
            '0',
            ...(options.extraArgs ?? []),
          ]),
        );
      }
      await redisCli(
        [
          '--cluster',
          'create',
          ...members.map((m) => `127.0.0.1:${m.process.port}`),
          '--cluster-replicas',
          String(replicas),
          '--cluster-yes',
        ],
        timeoutMs,
      );
      await cluster.waitForHealthy();
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** Every node's port, in start order (not role order: roles change on failover). */
  get ports(): number[] {
    return this.members.map((m) => m.process.port);
  }

  /** `host:port` of every node, for REDIS_CLUSTER_NODES or an ioredis Cluster client. */
  get seeds(): string[] {
    return this.members.map((m) => `${this.host}:${m.process.port}`);
  }

  /** The RedisProcess of a node (for its log, pid or running flag). */
  process(port: number): RedisProcess {
    const member = this.members.find((m) => m.process.port === port);
    if (member === undefined) throw new Error(`RedisCluster: no node on port ${port}`);
    return member.process;
  }

  /** Runs a command on one node with redis-cli and returns its raw output. */
  cli(port: number, ...args: string[]): Promise<string> {
    return redisCli(['-h', this.host, '-p', String(port), ...args]);
  }

  /** The cluster as one running node sees it (`CLUSTER NODES`), masters by first slot. */
  async nodes(): Promise<ClusterNodeInfo[]> {
    let lastError: unknown = new Error('RedisCluster: no node is running');
    for (const m of this.members) {
      if (!m.process.running) continue;
      try {
        return parseClusterNodes(await this.cli(m.process.port, 'cluster', 'nodes'));
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  }

  /** The masters, by first slot. */
  async masters(): Promise<ClusterNodeInfo[]> {
    return (await this.nodes()).filter((n) => n.role === 'master' && n.slots.length > 0);
  }

  /** Sends the signal to one node and waits until it has exited. */
  async kill(port: number, signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    await this.process(port).kill(signal);
  }

  /**
   * SIGSTOPs one node: it keeps its dataset and its slots but answers nothing, neither clients
   * nor the cluster bus (the others flag it failing after `nodeTimeoutMs`). Undo with resume().
   */
  pause(port: number): void {
    this.process(port).pause();
  }

  /** SIGCONTs a paused node; it serves again with the data it had (no failover without replicas). */
  resume(port: number): void {
    this.process(port).resume();
  }

  /**
   * Starts the node again on the same port with the same nodes.conf (dataset empty: no
   * persistence), so it rejoins by itself: a master that was not replaced takes its slots
   * back, one that was failed over comes back as a replica of its successor. Resolves once the
   * whole cluster is healthy again.
   */
  async restart(port: number): Promise<void> {
    await this.process(port).restart();
    await this.waitForHealthy();
  }

  /**
   * Waits until the slots `deadMasterPort` served are owned by another master that is not
   * failing (a replica was promoted), as every running node sees it. Returns the new master.
   */
  async waitForFailover(
    deadMasterPort: number,
    timeoutMs = this.timeoutMs,
  ): Promise<ClusterNodeInfo> {
    const before = (await this.nodes()).find((n) => n.port === deadMasterPort);
    const firstSlot = before?.slots[0]?.[0];
    if (before === undefined || firstSlot === undefined) {
      throw new Error(`RedisCluster: ${deadMasterPort} was not a master with slots`);
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const views = await Promise.all(
        this.members
          .filter((m) => m.process.running)
          .map((m) =>
            this.cli(m.process.port, 'cluster', 'nodes')
              .then(parseClusterNodes)
              .catch(() => undefined),
          ),
      );
      const owners = views.map((view) =>
        view?.find(
          (n) =>
            n.role === 'master' &&
            !n.failing &&
            n.port !== deadMasterPort &&
            n.slots.some(([a, b]) => a <= firstSlot && firstSlot <= b),
        ),
      );
      const owner = owners[0];
      if (owner !== undefined && owners.every((o) => o?.id === owner.id)) return owner;
      if (Date.now() >= deadline) {
        throw new Error(
          `RedisCluster: no replica took over slot ${firstSlot} of ${deadMasterPort} within ${timeoutMs} ms`,
        );
      }
      await sleep(100);
    }
  }

  /**
   * Waits until every member runs and every node says cluster_state:ok, all 16384 slots
   * assigned and ok (none served by a failing node), knows every member and flags none of
   * them as failing (so a restarted node has rejoined).
   */
  async waitForHealthy(timeoutMs = this.timeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const running = this.members.filter((m) => m.process.running);
      const infos = await Promise.all(
        running.map((m) =>
          this.cli(m.process.port, 'cluster', 'info')
            .then(parseInfo)
            .catch(() => undefined),
        ),
      );
      const views = await Promise.all(
        running.map((m) =>
          this.cli(m.process.port, 'cluster', 'nodes')
            .then(parseClusterNodes)
            .catch(() => undefined),
        ),
      );
      const healthy =
        running.length === this.members.length &&
        views.every((v) => v !== undefined && v.every((n) => !n.failing)) &&
        infos.every(
          (i) =>
            i !== undefined &&
            i['cluster_state'] === 'ok' &&
            i['cluster_slots_assigned'] === String(CLUSTER_SLOTS) &&
            i['cluster_slots_ok'] === String(CLUSTER_SLOTS) &&
            i['cluster_known_nodes'] === String(this.members.length),
        );
      if (healthy) return;
      last = JSON.stringify(
        infos.map((i) =>
          i === undefined
            ? null
            : [i['cluster_state'], i['cluster_slots_ok'], i['cluster_known_nodes']],
        ),
      );
      if (Date.now() >= deadline) {
        throw new Error(
          `RedisCluster: not healthy within ${timeoutMs} ms (running ${running.length}/${this.members.length}; state, slots_ok, known_nodes per node: ${last})`,
        );
      }
      await sleep(100);
    }
  }

  /** Stops every node and removes their directories. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    live.delete(this);
    await Promise.all(this.members.map((m) => m.process.stop()));
  }
}

/** One cluster node: a RedisProcess with its own bus port (a free one, not port + 10000). */
async function startMember(clusterArgs: readonly string[]): Promise<Member> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const busPort = await freePort();
    try {
      const process = await RedisProcess.start({
        extraArgs: [...clusterArgs, '--cluster-port', String(busPort)],
      });
      return { process, busPort };
    } catch (error) {
      lastError = error; // most likely the bus port was taken meanwhile
    }
  }
  throw lastError;
}

/** Stops every RedisCluster started in this worker that is still running. Use in afterAll. */
export async function stopAllClusters(): Promise<void> {
  await Promise.all([...live].map((cluster) => cluster.stop()));
}
