// Corrupt and incomplete models, load timeouts and inference errors: each is a counted failure
// with a clear error, never a crash.

import { rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CircuitOpenError, CircuitState } from 'breakerbox';
import {
  EmbeddingInferenceError,
  EmbeddingInputError,
  EmbeddingService,
  EmbeddingServiceClosedError,
  ModelLoadError,
  loadPipeline,
  writeTestModel,
  type EmbeddingPipeline,
} from '../../src/dependencies/embeddings/index.js';
import { countingLoader, makeBreaker, sleep, tempDir } from './helpers.js';

const { onnx } = onnxProto;

describe('failures of the embedding service', () => {
  let dir: string;
  let modelDir: string;
  let cleanup: () => Promise<void>;
  let service: EmbeddingService | undefined;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
    modelDir = path.join(dir, 'breakerbox-mini-text');
    await writeTestModel(modelDir);
  });
  afterEach(async () => {
    await service?.close();
    service = undefined;
    vi.restoreAllMocks();
    await cleanup();
  });

  async function failOnce(): Promise<ModelLoadError> {
    const error = await service!.embed(['hello']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    return error as ModelLoadError;
  }

  it('a truncated ONNX file is a counted failure with a clear error, and three open the circuit', async () => {
    const onnxFile = path.join(modelDir, 'onnx/model_quantized.onnx');
    await truncate(onnxFile, 10_000);
    const { breaker } = makeBreaker();
    service = new EmbeddingService({ breaker, modelsDir: dir });

    const error = await failOnce();
    expect(error.reason).toBe('corrupt');
    expect(error.message).toContain(modelDir);
    expect(error.message).toMatch(/corrupt model file onnx\/model_quantized\.onnx \(truncated/);
    expect(breaker.metrics()).toMatchObject({ failure_count: 1, state: 'closed' });

    await failOnce();
    await failOnce();
    expect(breaker.state).toBe(CircuitState.Open);
    await expect(service.embed(['hello'])).rejects.toBeInstanceOf(CircuitOpenError);
  });

  it.each([
    [
      'an empty ONNX file',
      'onnx/model_quantized.onnx',
      '',
      /onnx\/model_quantized\.onnx \(empty file\)/,
    ],
    [
      'a text file in place of the ONNX model',
      'onnx/model_quantized.onnx',
      'this is not a model\n'.repeat(50),
      /onnx\/model_quantized\.onnx \(.*(not an ONNX model|truncated)/,
    ],
    ['a broken tokenizer.json', 'tokenizer.json', '{"version": "1.0", "mod', /tokenizer\.json \(/],
    ['a broken config.json', 'config.json', 'not json', /config\.json \(/],
  ])('%s is reported as corrupt', async (_name, file, content, pattern) => {
    await writeFile(path.join(modelDir, file), content);
    const { breaker } = makeBreaker();
    service = new EmbeddingService({ breaker, modelsDir: dir });
    const error = await failOnce();
    expect(error.reason).toBe('corrupt');
    expect(error.message).toMatch(pattern);
    expect(breaker.metrics().failure_count).toBe(1);
  });

  it('an ONNX file that is well-formed but not runnable fails in the library and is classified as corrupt', async () => {
    // Passes the structural check; onnxruntime rejects the unknown operator (the library warns
    // and retries on wasm first, then gives up with a vague "Can't create a session").
    const bogus = onnx.ModelProto.encode(
      onnx.ModelProto.create({
        irVersion: 7,
        opsetImport: [{ domain: '', version: 13 }],
        graph: {
          name: 'bogus',
          node: [{ opType: 'NoSuchOperator', input: ['input_ids'], output: ['last_hidden_state'] }],
          input: [
            {
              name: 'input_ids',
              type: { tensorType: { elemType: 7, shape: { dim: [{ dimParam: 'b' }] } } },
            },
          ],
          output: [
            {
              name: 'last_hidden_state',
              type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'b' }] } } },
            },
          ],
        },
      }),
    ).finish();
    await writeFile(path.join(modelDir, 'onnx/model_quantized.onnx'), bogus);
    vi.spyOn(console, 'warn').mockImplementation(() => undefined); // the library's own noise
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const { breaker } = makeBreaker();
    service = new EmbeddingService({ breaker, modelsDir: dir });
    const error = await failOnce();
    expect(error.reason).toBe('corrupt');
    expect(error.message).toContain('corrupt model file onnx/model_quantized.onnx');
    expect(error.cause).toBeInstanceOf(Error);
    expect(breaker.metrics().failure_count).toBe(1);
  });

  it('a missing file inside the model directory is reported as incomplete', async () => {
    await rm(path.join(modelDir, 'tokenizer_config.json'));
    const { breaker } = makeBreaker();
    service = new EmbeddingService({ breaker, modelsDir: dir });
    const error = await failOnce();
    expect(error.reason).toBe('incomplete');
    expect(error.message).toContain('tokenizer_config.json is missing');
  });

  it('with quantized: false the service loads onnx/model.onnx and reports that file', async () => {
    await rm(path.join(modelDir, 'onnx/model_quantized.onnx'));
    const { breaker } = makeBreaker();
    service = new EmbeddingService({ breaker, modelsDir: dir, quantized: false });
    expect((await service.embed(['hello'])).dimension).toBe(64);

    await rm(path.join(modelDir, 'onnx/model.onnx'));
    const other = new EmbeddingService({ breaker, modelsDir: dir, quantized: false });
    const error = await other.embed(['hello'], 'text').catch((e: unknown) => e);
    expect((error as ModelLoadError).message).toContain('onnx/model.onnx is missing');
    await other.close();
  });

  it('a load that exceeds the time limit fails with reason timeout; the late pipeline is disposed', async () => {
    const counting = countingLoader({ delayMs: 200 });
    const { breaker } = makeBreaker();
    service = new EmbeddingService({
      breaker,
      modelsDir: dir,
      loadTimeoutMs: 50,
      loader: counting.loader,
    });
    const started = performance.now();
    const error = await failOnce();
    expect(performance.now() - started).toBeLessThan(190);
    expect(error.reason).toBe('timeout');
    expect(error.message).toContain('load timed out after 50 ms');
    expect(breaker.metrics().failure_count).toBe(1);
    expect(service.stats().text.loading).toBe(false); // dropped: the next call starts a new attempt

    await sleep(300); // the library finishes the abandoned load...
    expect(counting.disposed).toBe(1); // ...and its pipeline is released, not leaked
    expect(service.stats().text.loaded).toBe(false);
  });

  it('inference errors count as failures and surface as EmbeddingInferenceError', async () => {
    let failing = true;
    const { breaker } = makeBreaker();
    service = new EmbeddingService({
      breaker,
      modelsDir: dir,
      loader: async (spec) => {
        const real = await loadPipeline(spec);
        const wrapped: EmbeddingPipeline = {
          embed: async (texts) => {
            if (failing) throw new Error('onnxruntime: out of memory');
            return real.embed(texts);
          },
          dispose: () => real.dispose(),
        };
        return wrapped;
      },
    });
    for (let i = 0; i < 3; i++) {
      const error = await service.embed(['x']).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EmbeddingInferenceError);
      expect((error as Error).message).toContain('out of memory');
    }
    expect(breaker.state).toBe(CircuitState.Open);
    failing = false;
    breaker.reset();
    expect((await service.embed(['x'])).vectors).toHaveLength(1);
    expect(service.stats().text.loads.started).toBe(1); // the model stayed loaded
  });

  it('bad input is rejected before the breaker is asked and never counts', async () => {
    const { breaker } = makeBreaker();
    service = new EmbeddingService({ breaker, modelsDir: dir });
    await expect(service.embed([])).rejects.toMatchObject({ problem: 'empty_input' });
    await expect(service.embed(Array(65).fill('x'))).rejects.toMatchObject({
      problem: 'too_many_inputs',
    });
    await expect(service.embed(['x'.repeat(8193)])).rejects.toMatchObject({
      problem: 'input_too_long',
    });
    await expect(service.embed('abc' as unknown as string[])).rejects.toMatchObject({
      problem: 'invalid_input',
    });
    await expect(service.embed([42 as unknown as string])).rejects.toBeInstanceOf(
      EmbeddingInputError,
    );
    await expect(service.embed(['x'], 'image' as 'text')).rejects.toMatchObject({
      problem: 'invalid_kind',
    });
    await expect(service.embed(['x'], 'constructor' as 'text')).rejects.toMatchObject({
      problem: 'invalid_kind',
    });
    expect(breaker.metrics().calls).toEqual({ success: 0, failure: 0, rejected: 0, ignored: 0 });
  });

  it('close() disposes loaded models; embed() afterwards rejects without touching the breaker', async () => {
    const counting = countingLoader();
    const { breaker } = makeBreaker();
    await writeTestModel(path.join(dir, 'breakerbox-mini-code'), { kind: 'code' });
    service = new EmbeddingService({ breaker, modelsDir: dir, loader: counting.loader });
    await service.embed(['x'], 'text');
    await service.embed(['x'], 'code');
    await service.close();
    expect(counting.disposed).toBe(2);
    await expect(service.embed(['x'])).rejects.toBeInstanceOf(EmbeddingServiceClosedError);
    expect(await service.warmUp('text')).toBe(false);
    expect(breaker.metrics().calls.success).toBe(2);
    await service.close(); // idempotent
  });

  it('close() during a load disposes the model when the load lands', async () => {
    const counting = countingLoader({ delayMs: 50 });
    const { breaker } = makeBreaker();
    service = new EmbeddingService({ breaker, modelsDir: dir, loader: counting.loader });
    const pending = service.embed(['x']).catch((e: unknown) => e);
    await sleep(10);
    await service.close();
    await pending;
    expect(counting.disposed).toBe(1);
    expect(service.stats().text.loaded).toBe(false);
  });

  it('stays offline: a model id that is not on disk is not downloaded', async () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const { breaker } = makeBreaker();
    service = new EmbeddingService({
      breaker,
      modelsDir: dir,
      textModel: 'Xenova/all-MiniLM-L6-v2',
    });
    const error = await failOnce();
    expect(error.reason).toBe('not_found');
    expect(error.message).toContain(path.join(dir, 'Xenova/all-MiniLM-L6-v2'));
    expect(fetchSpy).not.toHaveBeenCalled();
    // ...and the same id is found when it is present under MODELS_DIR.
    await writeTestModel(path.join(dir, 'Xenova/all-MiniLM-L6-v2'));
    expect((await service.embed(['x'])).model).toBe('Xenova/all-MiniLM-L6-v2');
  });

  it('hooks report each call and each load attempt', async () => {
    const embeds: unknown[] = [];
    const loads: unknown[] = [];
    const { breaker } = makeBreaker();
    service = new EmbeddingService({
      breaker,
      modelsDir: dir,
      onEmbed: (e) => embeds.push(e),
      onLoad: (e) => loads.push(e),
    });
    await service.embed(['a', 'b']);
    await service.embed(['a'], 'code').catch(() => undefined);
    expect(embeds).toMatchObject([
      { kind: 'text', inputs: 2, outcome: 'success' },
      { kind: 'code', inputs: 1, outcome: 'failure' },
    ]);
    expect(loads).toMatchObject([
      { kind: 'text', model: 'breakerbox-mini-text', outcome: 'success' },
      { kind: 'code', model: 'breakerbox-mini-code', outcome: 'failure' },
    ]);
    expect((loads[1] as { error: ModelLoadError }).error.reason).toBe('not_found');
    const stats = service.stats();
    expect(stats.text).toMatchObject({ calls: { success: 1 }, inputs: 2, loaded: true });
    expect(stats.text.durationMsTotal).toBeGreaterThan(0);
    expect(stats.code).toMatchObject({ calls: { failure: 1 }, loaded: false });
    // A throwing hook never breaks a request.
    const noisy = new EmbeddingService({
      breaker,
      modelsDir: dir,
      onEmbed: () => {
        throw new Error('hook');
      },
      onLoad: () => {
        throw new Error('hook');
      },
    });
    expect((await noisy.embed(['a'])).vectors).toHaveLength(1);
    await noisy.close();
  });
});
