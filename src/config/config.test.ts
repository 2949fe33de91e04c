import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig: the embedding variables', () => {
  it('has offline defaults that point at the generated models', () => {
    expect(loadConfig({}).embedding).toMatchObject({
      textModel: 'breakerbox-mini-text',
      codeModel: 'breakerbox-mini-code',
      modelsDir: 'models',
      allowDownload: false,
      quantized: true,
      loadTimeoutMs: 60_000,
    });
  });

  it('reads every variable', () => {
    expect(
      loadConfig({
        EMBEDDING_MODEL: 'Xenova/all-MiniLM-L6-v2',
        CODE_EMBEDDING_MODEL: '/srv/models/code',
        MODELS_DIR: '/srv/models',
        EMBEDDING_ALLOW_DOWNLOAD: 'true',
        EMBEDDING_QUANTIZED: 'false',
        EMBEDDING_LOAD_TIMEOUT: '2.5',
      }).embedding,
    ).toMatchObject({
      textModel: 'Xenova/all-MiniLM-L6-v2',
      codeModel: '/srv/models/code',
      modelsDir: '/srv/models',
      allowDownload: true,
      quantized: false,
      loadTimeoutMs: 2500,
    });
  });

  it.each([
    ['EMBEDDING_ALLOW_DOWNLOAD', 'maybe'],
    ['EMBEDDING_QUANTIZED', 'nope'],
    ['EMBEDDING_LOAD_TIMEOUT', '0'],
    ['EMBEDDING_LOAD_TIMEOUT', '-1'],
    ['EMBEDDING_LOAD_TIMEOUT', 'soon'],
    ['EMBEDDING_MODEL', ' padded '],
    ['CODE_EMBEDDING_MODEL', 'trailing '],
  ])('an invalid %s (%j) names the variable', (name, value) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(name);
    expect((error as Error).message).toContain(name);
  });

  it('a blank variable means the default', () => {
    expect(loadConfig({ MODELS_DIR: '   ', EMBEDDING_LOAD_TIMEOUT: ' ' }).embedding).toMatchObject({
      modelsDir: 'models',
      loadTimeoutMs: 60_000,
    });
  });

  it('never echoes REDIS_URL, which may carry a password', () => {
    expect(() => loadConfig({ REDIS_URL: 'http://user:hunter2@host:1/0' })).toThrow(ConfigError);
    try {
      loadConfig({ REDIS_URL: 'http://user:hunter2@host:1/0' });
    } catch (error) {
      expect((error as Error).message).toContain('REDIS_URL');
      expect((error as Error).message).not.toContain('hunter2');
    }
  });
});

describe('loadConfig: REDIS_CLUSTER_NODES', () => {
  const load = (value: string) => loadConfig({ REDIS_CLUSTER_NODES: value });
  const failure = (value: string): ConfigError => {
    try {
      load(value);
    } catch (error) {
      if (error instanceof ConfigError) return error;
      throw error;
    }
    throw new Error('expected a ConfigError');
  };

  it('is unset by default: the L2 is the standalone REDIS_URL', () => {
    expect(loadConfig({}).redis.cluster).toBeUndefined();
    expect(loadConfig({ REDIS_CLUSTER_NODES: '  ' }).redis.cluster).toBeUndefined();
  });

  it('parses host:port seeds, trims, drops empty and duplicate entries', () => {
    const cluster = load(' 10.0.0.1:7000, redis-a.internal:7001,,10.0.0.1:7000 ,[::1]:7002').redis
      .cluster;
    expect(cluster).toEqual({
      seeds: [
        { host: '10.0.0.1', port: 7000 },
        { host: 'redis-a.internal', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      username: undefined,
      password: undefined,
      tls: false,
      display: '10.0.0.1:7000,redis-a.internal:7001,[::1]:7002',
    });
  });

  it('takes credentials and TLS from a URL-form seed, as REDIS_URL does, and never shows them', () => {
    const cluster = load('rediss://app:s3cr%40t@node-1:6379,node-2:6379').redis.cluster;
    expect(cluster).toMatchObject({
      seeds: [
        { host: 'node-1', port: 6379 },
        { host: 'node-2', port: 6379 },
      ],
      username: 'app',
      password: 's3cr@t',
      tls: true,
      display: 'rediss://***@node-1:6379,node-2:6379',
    });
    expect(load('redis://:pw@node-1:6379').redis.cluster).toMatchObject({
      username: undefined,
      password: 'pw',
      tls: false,
    });
  });

  it.each([
    ['no port', 'node-1', 'entry 1'],
    ['a port out of range', 'node-1:70000', 'port must be from 1 to 65535'],
    ['port zero', 'node-1:0', 'port must be from 1 to 65535'],
    ['a bad host', 'no de:7000', 'is not a valid host'],
    ['a second bad entry', 'node-1:7000,node-2', 'entry 2'],
    ['another scheme', 'http://node-1:7000', 'expected host:port, redis:// or rediss://'],
    ['a database path', 'redis://node-1:7000/3', 'takes no path'],
    ['mixed schemes', 'redis://a:1,rediss://b:2', 'mixes redis:// and rediss://'],
    ['only commas', ',,', 'expected host:port'],
  ])('rejects %s with a message naming the variable', (_what, value, reason) => {
    const error = failure(value);
    expect(error.variable).toBe('REDIS_CLUSTER_NODES');
    expect(error.message).toContain('REDIS_CLUSTER_NODES');
    expect(error.message).toContain(reason);
  });

  it('never echoes a credential in an error', () => {
    for (const value of [
      'redis://user:hunter2-secret@node-1',
      'rediss://user:hunter2-secret@node-1:7000,redis://node-2:7001',
      'redis://a:hunter2-secret@n1:1,redis://a:other-hunter2@n2:2',
      'redis://user:hunter2-secret@bad host:7000',
    ]) {
      const error = failure(value);
      expect(error.message).not.toContain('hunter2');
      expect(error.message).not.toContain('got "');
    }
  });

  it('leaves REDIS_URL and the breaker settings as they are (shard breakers reuse them)', () => {
    const config = loadConfig({
      REDIS_CLUSTER_NODES: 'n1:7000',
      REDIS_CIRCUIT_FAILURE_THRESHOLD: '7',
      REDIS_COMMAND_TIMEOUT_MS: '250',
    });
    expect(config.redis.url).toBe('redis://127.0.0.1:6379/0');
    expect(config.redis.commandTimeoutMs).toBe(250);
    expect(config.redis.breaker.failureThreshold).toBe(7);
  });
});
