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
