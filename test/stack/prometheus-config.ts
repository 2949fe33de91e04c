/**
 * The committed Prometheus config (prometheus/prometheus.yml), and a variant of it for running
 * the real `prometheus` binary without Docker: the service job scrapes static localhost
 * targets instead of discovering compose replicas through DNS, rule files are absolute, and
 * intervals can be shortened. The job name stays, so the rules and dashboards see the same
 * labels as in the stack.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { REPO_ROOT } from './tools.js';

export const PROMETHEUS_DIR = path.join(REPO_ROOT, 'prometheus');
export const PROMETHEUS_CONFIG = path.join(PROMETHEUS_DIR, 'prometheus.yml');
/** The scrape job of the service in the committed config. */
export const SERVICE_JOB = 'breakerbox';

export interface ScrapeConfig {
  job_name: string;
  metrics_path?: string;
  scrape_interval?: string;
  dns_sd_configs?: Array<{ names: string[]; type?: string; port?: number }>;
  static_configs?: Array<{ targets: string[]; labels?: Record<string, string> }>;
  [key: string]: unknown;
}

export interface PrometheusConfig {
  global?: Record<string, unknown>;
  rule_files?: string[];
  alerting?: { alertmanagers?: Array<{ static_configs?: Array<{ targets: string[] }> }> };
  scrape_configs?: ScrapeConfig[];
  [key: string]: unknown;
}

export function readPrometheusConfig(file = PROMETHEUS_CONFIG): PrometheusConfig {
  return parseYaml(readFileSync(file, 'utf8')) as PrometheusConfig;
}

export interface LocalPrometheusOptions {
  /** host:port of each service metrics endpoint, e.g. ['127.0.0.1:9464']. */
  targets: readonly string[];
  /** Scrape interval; default 1s. */
  scrapeInterval?: string;
  /** Rule evaluation interval; default the scrape interval. */
  evaluationInterval?: string;
  /** host:port of Alertmanagers to send to; default none. */
  alertmanagers?: readonly string[];
}

/**
 * The committed config rewritten for localhost targets, as YAML. Write it anywhere: rule file
 * paths are absolute (resolved against prometheus/).
 */
export function localPrometheusConfig(options: LocalPrometheusOptions): string {
  const config = readPrometheusConfig();
  const job = config.scrape_configs?.find((c) => c.job_name === SERVICE_JOB);
  if (job === undefined) throw new Error(`prometheus.yml has no scrape job ${SERVICE_JOB}`);
  const scrapeInterval = options.scrapeInterval ?? '1s';
  const localJob: ScrapeConfig = {
    ...job,
    scrape_interval: scrapeInterval,
    static_configs: [{ targets: [...options.targets] }],
  };
  delete localJob.dns_sd_configs;
  const local: PrometheusConfig = {
    ...config,
    global: {
      ...config.global,
      scrape_interval: scrapeInterval,
      scrape_timeout: scrapeInterval,
      evaluation_interval: options.evaluationInterval ?? scrapeInterval,
    },
    rule_files: (config.rule_files ?? []).map((file) => path.resolve(PROMETHEUS_DIR, file)),
    scrape_configs: [localJob],
  };
  if (options.alertmanagers !== undefined && options.alertmanagers.length > 0) {
    local.alerting = {
      alertmanagers: [{ static_configs: [{ targets: [...options.alertmanagers] }] }],
    };
  } else {
    delete local.alerting;
  }
  return stringifyYaml(local);
}
