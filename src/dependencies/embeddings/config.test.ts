import { describe, expect, it } from 'vitest';
import { EmbeddingConfigError, embeddingConfigFromEnv } from './config.js';

describe('embeddingConfigFromEnv', () => {
  it('has offline defaults that point at the generated models', () => {
    expect(embeddingConfigFromEnv({})).toEqual({
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
      embeddingConfigFromEnv({
        EMBEDDING_MODEL: 'Xenova/all-MiniLM-L6-v2',
        CODE_EMBEDDING_MODEL: '/srv/models/code',
        MODELS_DIR: '/srv/models',
        EMBEDDING_ALLOW_DOWNLOAD: 'true',
        EMBEDDING_QUANTIZED: 'false',
        EMBEDDING_LOAD_TIMEOUT: '2.5',
      }),
    ).toEqual({
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
    ['EMBEDDING_LOAD_TIMEOUT', ' '],
    ['EMBEDDING_MODEL', ' padded '],
    ['MODELS_DIR', '   '],
  ])('an invalid %s (%j) names the variable', (name, value) => {
    let error: unknown;
    try {
      embeddingConfigFromEnv({ [name]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EmbeddingConfigError);
    expect((error as EmbeddingConfigError).variable).toBe(name);
    expect((error as Error).message.startsWith(`${name}: `)).toBe(true);
  });
});
