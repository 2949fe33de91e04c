// A missing model opens the circuit; while open, calls fail fast; once the model appears and the
// recovery timeout passes, the next call loads it (no fail-forever). Plus the HALF_OPEN wedge:
// a probe that finds its model already loaded must still report its outcome, or its probe slot
// stays taken.

import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CircuitOpenError, CircuitState } from 'breakerbox';
import {
  EmbeddingService,
  isTransientLoadError,
  ModelLoadError,
  writeTestModel,
} from '../../src/dependencies/embeddings/index.js';
import { RECOVERY_MS, countingLoader, makeBreaker, tempDir } from './helpers.js';

describe('recovery of the embedding service', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let service: EmbeddingService | undefined;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
  });
  afterEach(async () => {
    await service?.close();
    service = undefined;
    await cleanup();
  });

  it('opens after 3 failed loads of a missing model, fails fast while open, and recovers once the model is in place', async () => {
    const LOAD_MS = 150; // every load attempt takes this long before it even looks at the disk
    const { breaker, clock } = makeBreaker();
    const counting = countingLoader({ delayMs: LOAD_MS });
    const modelDir = path.join(dir, 'mini');
    service = new EmbeddingService({
      breaker,
      textModel: modelDir,
      loader: counting.loader,
    });

    for (let i = 1; i <= 3; i++) {
      const started = performance.now();
      const error = await service.embed(['hello world']).catch((e: unknown) => e);
      expect(performance.now() - started).toBeGreaterThanOrEqual(LOAD_MS - 5);
      expect(error).toBeInstanceOf(ModelLoadError);
      expect((error as ModelLoadError).reason).toBe('not_found');
      expect((error as ModelLoadError).message).toContain(modelDir);
      expect((error as ModelLoadError).message).toContain('model directory not found');
    }
    expect(breaker.state).toBe(CircuitState.Open);
    expect(breaker.metrics().failure_count).toBe(3);
    expect(counting.starts.text).toBe(3);

    // While open: rejected at once, far below the load time, and no load is attempted.
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      const error = await service.embed(['hello world']).catch((e: unknown) => e);
      const elapsed = performance.now() - started;
      expect(error).toBeInstanceOf(CircuitOpenError);
      expect((error as CircuitOpenError).retryAfterMs).toBeGreaterThan(0);
      expect(elapsed).toBeLessThan(LOAD_MS / 10);
    }
    expect(counting.starts.text).toBe(3);

    // The model appears; the recovery timeout passes; the next call loads it and succeeds.
    await writeTestModel(modelDir);
    clock.advance(RECOVERY_MS - 1);
    await expect(service.embed(['hello world'])).rejects.toBeInstanceOf(CircuitOpenError);
    clock.advance(1);
    const result = await service.embed(['hello world']);
    expect(result).toMatchObject({ model: 'mini', kind: 'text', dimension: 64 });
    expect(result.vectors[0]).toHaveLength(64);
    expect(breaker.state).toBe(CircuitState.Closed);
    expect(counting.starts.text).toBe(4);

    // Loaded once; later calls do not load again.
    await service.embed(['again']);
    expect(counting.starts.text).toBe(4);
  });

  it('a probe whose model is already loaded reports success and closes the circuit (no HALF_OPEN wedge)', async () => {
    const { breaker, clock } = makeBreaker();
    await writeTestModel(path.join(dir, 'breakerbox-mini-text'));
    const counting = countingLoader();
    service = new EmbeddingService({ breaker, modelsDir: dir, loader: counting.loader });

    await service.embed(['loads the text model']);
    // The code model is missing: three failures open the shared breaker.
    for (let i = 0; i < 3; i++) {
      await expect(service.embed(['x'], 'code')).rejects.toBeInstanceOf(ModelLoadError);
    }
    expect(breaker.state).toBe(CircuitState.Open);
    await expect(service.embed(['x'], 'text')).rejects.toBeInstanceOf(CircuitOpenError);

    clock.advance(RECOVERY_MS);
    // The probe uses the already-loaded text model: no load, but its success is reported.
    await service.embed(['probe']);
    expect(breaker.state).toBe(CircuitState.Closed);
    expect(counting.starts.text).toBe(1);
    await service.embed(['and after']);
  });

  it('a failed probe reopens the circuit, and a later probe still gets its turn', async () => {
    const { breaker, clock } = makeBreaker();
    const modelDir = path.join(dir, 'late');
    service = new EmbeddingService({ breaker, textModel: modelDir });
    for (let i = 0; i < 3; i++) await expect(service.embed(['x'])).rejects.toThrow(ModelLoadError);
    clock.advance(RECOVERY_MS);
    await expect(service.embed(['x'])).rejects.toThrow(ModelLoadError); // the probe: still missing
    expect(breaker.state).toBe(CircuitState.Open);
    await expect(service.embed(['x'])).rejects.toThrow(CircuitOpenError);

    await writeTestModel(modelDir);
    clock.advance(RECOVERY_MS);
    expect((await service.embed(['x'])).vectors).toHaveLength(1);
    expect(breaker.state).toBe(CircuitState.Closed);
  });

  it('warmUp() loads through the breaker and reports false instead of throwing', async () => {
    const { breaker } = makeBreaker();
    await writeTestModel(path.join(dir, 'breakerbox-mini-text'));
    service = new EmbeddingService({ breaker, modelsDir: dir });
    expect(await service.warmUp('text')).toBe(true);
    expect(await service.warmUp('code')).toBe(false);
    expect(service.stats().text.loaded).toBe(true);
    expect(service.stats().code.lastLoadError?.reason).toBe('not_found');
    expect(breaker.metrics().calls).toMatchObject({ success: 1, failure: 1 });
  });

  it('warmUp() retries a transient load failure with backoff on the injected clock', async () => {
    const { breaker, clock } = makeBreaker();
    await writeTestModel(path.join(dir, 'breakerbox-mini-text'));
    const counting = countingLoader();
    let attempts = 0;
    service = new EmbeddingService({
      breaker,
      modelsDir: dir,
      clock,
      warmUpRetry: { backoff: () => 1_000 },
      loader: async (spec) => {
        if (++attempts === 1) throw new Error('onnxruntime: transient allocation failure');
        return counting.loader(spec);
      },
    });
    const warm = service.warmUp('text');
    // Real file I/O runs between the fake-clock steps: step until the retry has started.
    for (let i = 0; i < 5_000 && attempts < 2; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      clock.advance(100);
    }
    expect(await warm).toBe(true);
    expect(attempts).toBe(2);
    expect(breaker.metrics().calls).toMatchObject({ success: 1, failure: 1 });
    expect(service.stats().text.loaded).toBe(true);
  });

  it('warmUp() does not retry a model that is missing, nor with warmUpRetry: false', async () => {
    const { breaker } = makeBreaker();
    service = new EmbeddingService({ breaker, modelsDir: dir, warmUpRetry: false });
    expect(await service.warmUp('text')).toBe(false);
    expect(breaker.metrics().calls.failure).toBe(1);
    expect(isTransientLoadError(new Error('x'))).toBe(false);
  });
});
