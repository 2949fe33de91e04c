import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { freePort } from '@breakerbox/devkit';
import { listRuleQueries } from './queries.js';
import { repoPath, requireTool, run } from './tools.js';

const CONFIG = 'alertmanager/alertmanager.yml';
const RENDER = 'alertmanager/render-config.sh';

interface Route {
  receiver?: string;
  group_by?: string[];
  matchers?: string[];
  repeat_interval?: string;
  routes?: Route[];
}
interface AlertmanagerConfig {
  route: Route;
  receivers: Array<{
    name: string;
    webhook_configs?: Array<{ url: string; send_resolved?: boolean }>;
  }>;
  inhibit_rules: Array<{ source_matchers: string[]; target_matchers: string[]; equal: string[] }>;
}
const config = parseYaml(readFileSync(repoPath(CONFIG), 'utf8')) as AlertmanagerConfig;
const alerts = listRuleQueries().filter((q) => q.kind === 'alert');

function routeTest(labels: Record<string, string>): string {
  const args = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  const result = run(requireTool('amtool'), [
    'config',
    'routes',
    'test',
    `--config.file=${CONFIG}`,
    ...args,
  ]);
  expect(result.status, result.output).toBe(0);
  return result.stdout.trim();
}

function render(env: Record<string, string>): ReturnType<typeof run> {
  return run('sh', [RENDER, '--render-only'], {
    env: { PATH: process.env.PATH, ALERTMANAGER_CONFIG_TEMPLATE: repoPath(CONFIG), ...env },
  });
}

describe('alertmanager config', () => {
  it('amtool check-config passes', () => {
    const result = run(requireTool('amtool'), ['check-config', CONFIG]);
    expect(result.status, result.output).toBe(0);
    expect(result.output).toContain('SUCCESS');
  });

  it('groups by alert and breaker, so replicas reporting one incident make one notification', () => {
    expect(config.route.group_by).toEqual(['alertname', 'circuit_breaker_name']);
  });

  it('routes pages and warnings to their webhook receivers', () => {
    expect(routeTest({ alertname: 'CriticalCircuitOpen', severity: 'page' })).toBe('page-webhook');
    expect(routeTest({ alertname: 'CircuitHighRejectionRate', severity: 'warning' })).toBe(
      'warning-webhook',
    );
    expect(routeTest({ alertname: 'Other' })).toBe('warning-webhook');
  });

  it('routes every alert rule by its severity to a webhook that sends resolutions too', () => {
    for (const alert of alerts) {
      const receiver = routeTest({ alertname: alert.alert!, ...alert.labels });
      expect(receiver, alert.alert).toBe(`${alert.labels?.severity}-webhook`);
      const webhook = config.receivers.find((r) => r.name === receiver)?.webhook_configs?.[0];
      expect(webhook?.url, receiver).toMatch(/^https?:\/\//);
      expect(webhook?.send_resolved, receiver).toBe(true);
    }
  });

  it('inhibits the brief-open page while the open page fires for the same breaker', () => {
    expect(config.inhibit_rules).toContainEqual({
      source_matchers: ['alertname="CriticalCircuitOpen"'],
      target_matchers: ['alertname="CriticalCircuitOpenedBriefly"'],
      equal: ['circuit_breaker_name'],
    });
    const names = new Set(alerts.map((a) => a.alert));
    for (const rule of config.inhibit_rules) {
      for (const m of [...rule.source_matchers, ...rule.target_matchers]) {
        const alertname = /^alertname="(.*)"$/.exec(m)?.[1];
        if (alertname !== undefined) expect(names, m).toContain(alertname);
      }
    }
  });
});

describe('render-config.sh (the compose entrypoint)', () => {
  it('substitutes the webhook URLs from the environment, and the result is valid', () => {
    const result = render({
      ALERT_WEBHOOK_URL_PAGE: 'https://hooks.example.com/page?a=1&b=2',
      ALERT_WEBHOOK_URL_WARNING: 'http://10.1.2.3:5001/warn|x',
    });
    expect(result.status, result.output).toBe(0);
    const rendered = parseYaml(result.stdout) as AlertmanagerConfig;
    const urls = Object.fromEntries(
      rendered.receivers.map((r) => [r.name, r.webhook_configs?.[0]?.url]),
    );
    expect(urls).toEqual({
      'page-webhook': 'https://hooks.example.com/page?a=1&b=2',
      'warning-webhook': 'http://10.1.2.3:5001/warn|x',
    });
    const dir = mkdtempSync(path.join(tmpdir(), 'bb-am-'));
    try {
      writeFileSync(path.join(dir, 'alertmanager.yml'), result.stdout);
      const check = run(requireTool('amtool'), [
        'check-config',
        path.join(dir, 'alertmanager.yml'),
      ]);
      expect(check.status, check.output).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sends warnings to the page URL when only that is set, and keeps placeholders when unset', () => {
    const one = render({ ALERT_WEBHOOK_URL_PAGE: 'https://hooks.example.com/all' });
    expect(one.status, one.output).toBe(0);
    expect(one.stdout.match(/https:\/\/hooks\.example\.com\/all/g)).toHaveLength(2);
    const none = render({});
    expect(none.status, none.output).toBe(0);
    expect(none.stdout).toBe(readFileSync(repoPath(CONFIG), 'utf8'));
    expect(none.stderr).toContain('ALERT_WEBHOOK_URL_PAGE is not set');
  });

  it('refuses a value that is not a plain http(s) URL, naming the variable', () => {
    for (const bad of ['ftp://x', 'http://a b', "http://x/'y", 'hooks.example.com']) {
      const result = render({ ALERT_WEBHOOK_URL_PAGE: bad });
      expect(result.status, bad).toBe(64);
      expect(result.stderr).toContain('ALERT_WEBHOOK_URL_PAGE');
    }
  });
});

describe('alertmanager, live: inhibition stops a flapping circuit from paging twice', () => {
  let child: ChildProcess | undefined;
  let dir: string;
  let base: string;
  let log = '';

  beforeAll(async () => {
    const binary = requireTool('alertmanager');
    dir = mkdtempSync(path.join(tmpdir(), 'bb-am-live-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = spawn(
      binary,
      [
        `--config.file=${repoPath(CONFIG)}`,
        `--storage.path=${dir}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (c: Buffer) => (log += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (log += c.toString()));
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        if ((await fetch(`${base}/-/ready`)).ok) break;
      } catch {
        // not listening yet
      }
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`alertmanager did not become ready\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  interface ApiAlert {
    labels: Record<string, string>;
    status: { state: string; inhibitedBy: string[] };
  }

  it('suppresses CriticalCircuitOpenedBriefly and warnings of the open breaker only, and shard alerts while the whole cache is down', async () => {
    const now = new Date();
    const endsAt = new Date(now.getTime() + 10 * 60_000).toISOString();
    const alert = (labels: Record<string, string>) => ({
      labels: { job: 'breakerbox', ...labels },
      annotations: { summary: 'test' },
      startsAt: now.toISOString(),
      endsAt,
    });
    const posted = await fetch(`${base}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        alert({
          alertname: 'CriticalCircuitOpen',
          severity: 'page',
          circuit_breaker_name: 'embedding_service',
          instance: '10.0.0.11:9464',
        }),
        // The same breaker re-opening on another replica: inhibited.
        alert({
          alertname: 'CriticalCircuitOpenedBriefly',
          severity: 'page',
          circuit_breaker_name: 'embedding_service',
          instance: '10.0.0.12:9464',
        }),
        alert({
          alertname: 'CircuitHighRejectionRate',
          severity: 'warning',
          circuit_breaker_name: 'embedding_service',
          instance: '10.0.0.11:9464',
        }),
        // Another breaker: not inhibited.
        alert({
          alertname: 'CriticalCircuitOpenedBriefly',
          severity: 'page',
          circuit_breaker_name: 'other_critical',
          instance: '10.0.0.11:9464',
        }),
        alert({
          alertname: 'NonCriticalCircuitOpenTooLong',
          severity: 'warning',
          circuit_breaker_name: 'redis_cache',
          instance: '10.0.0.11:9464',
        }),
        // A shard of the cache that is down as a whole on that instance: inhibited; a shard
        // down on another instance, where the cache still serves: not.
        alert({
          alertname: 'RedisClusterShardOpenTooLong',
          severity: 'warning',
          circuit_breaker_name: 'redis_cache:0',
          instance: '10.0.0.11:9464',
        }),
        alert({
          alertname: 'RedisClusterShardOpenTooLong',
          severity: 'warning',
          circuit_breaker_name: 'redis_cache:5461',
          instance: '10.0.0.12:9464',
        }),
      ]),
    });
    expect(posted.status, log).toBe(200);

    const key = (a: ApiAlert): string => `${a.labels.alertname}/${a.labels.circuit_breaker_name}`;
    let states: Record<string, string> = {};
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const got = (await (await fetch(`${base}/api/v2/alerts`)).json()) as ApiAlert[];
      states = Object.fromEntries(got.map((a) => [key(a), a.status.state]));
      if (
        got.length === 7 &&
        states['CriticalCircuitOpenedBriefly/embedding_service'] === 'suppressed' &&
        states['RedisClusterShardOpenTooLong/redis_cache:0'] === 'suppressed'
      ) {
        if (states['CircuitHighRejectionRate/embedding_service'] === 'suppressed') break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(states, log).toEqual({
      'CriticalCircuitOpen/embedding_service': 'active',
      'CriticalCircuitOpenedBriefly/embedding_service': 'suppressed',
      'CircuitHighRejectionRate/embedding_service': 'suppressed',
      'CriticalCircuitOpenedBriefly/other_critical': 'active',
      'NonCriticalCircuitOpenTooLong/redis_cache': 'active',
      'RedisClusterShardOpenTooLong/redis_cache:0': 'suppressed',
      'RedisClusterShardOpenTooLong/redis_cache:5461': 'active',
    });
  });
});
