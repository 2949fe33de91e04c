import {
  DEFAULT_CODE_MODEL,
  DEFAULT_LOAD_TIMEOUT_MS,
  DEFAULT_MODELS_DIR,
  DEFAULT_TEXT_MODEL,
  type EmbeddingServiceOptions,
} from './embedding-service.js';

/** The embedding service's model settings, as read from the environment. */
export type EmbeddingEnvConfig = Required<
  Pick<
    EmbeddingServiceOptions,
    'textModel' | 'codeModel' | 'modelsDir' | 'allowDownload' | 'quantized' | 'loadTimeoutMs'
  >
>;

/** An invalid environment variable; the message names it. */
export class EmbeddingConfigError extends Error {
  override readonly name = 'EmbeddingConfigError';
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.variable = variable;
  }
}

function nonEmpty(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  if (value.trim() !== value || value.trim() === '') {
    throw new EmbeddingConfigError(
      name,
      `expected a model id or directory, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function bool(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const v = value.toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  throw new EmbeddingConfigError(name, `expected true or false, got ${JSON.stringify(value)}`);
}

/**
 * Reads:
 * - `EMBEDDING_MODEL` / `CODE_EMBEDDING_MODEL`: model ids (looked up under MODELS_DIR) or
 *   directories (absolute, or starting with ./ or ../). Defaults breakerbox-mini-text / -code.
 * - `MODELS_DIR` (default `models`).
 * - `EMBEDDING_ALLOW_DOWNLOAD` (default false): true lets a missing id be downloaded from the
 *   Hugging Face hub into MODELS_DIR.
 * - `EMBEDDING_LOAD_TIMEOUT` seconds, fractional allowed (default 60): limit per load attempt.
 * - `EMBEDDING_QUANTIZED` (default true): load onnx/model_quantized.onnx, else onnx/model.onnx.
 */
export function embeddingConfigFromEnv(env: NodeJS.ProcessEnv = process.env): EmbeddingEnvConfig {
  let loadTimeoutMs = DEFAULT_LOAD_TIMEOUT_MS;
  const timeout = env.EMBEDDING_LOAD_TIMEOUT;
  if (timeout !== undefined && timeout !== '') {
    const seconds = Number(timeout);
    if (!Number.isFinite(seconds) || seconds <= 0 || timeout.trim() === '') {
      throw new EmbeddingConfigError(
        'EMBEDDING_LOAD_TIMEOUT',
        `expected a number of seconds > 0, got ${JSON.stringify(timeout)}`,
      );
    }
    loadTimeoutMs = seconds * 1000;
  }
  return {
    textModel: nonEmpty(env, 'EMBEDDING_MODEL', DEFAULT_TEXT_MODEL),
    codeModel: nonEmpty(env, 'CODE_EMBEDDING_MODEL', DEFAULT_CODE_MODEL),
    modelsDir: nonEmpty(env, 'MODELS_DIR', DEFAULT_MODELS_DIR),
    allowDownload: bool(env, 'EMBEDDING_ALLOW_DOWNLOAD', false),
    quantized: bool(env, 'EMBEDDING_QUANTIZED', true),
    loadTimeoutMs,
  };
}
