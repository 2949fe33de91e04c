// Five embedding circuit tests from the project's original (Python) design: the circuit opens
// after model load failures, allows a retry after the recovery timeout, never fails forever,
// reports its metrics, and protects both models. Ported to the real library and the project's
// generated model instead of a patched constructor.

import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CircuitOpenError, CircuitState } from 'breakerbox';
import {
  EmbeddingService,
  ModelLoadError,
  writeTestModel,
} from '../../src/dependencies/embeddings/index.js';
import { RECOVERY_MS, countingLoader, makeBreaker, tempDir } from './helpers.js';

describe('embedding circuit breaker: load failures, recovery, metrics, both models', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const services: EmbeddingService[] = [];

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
  });
  afterEach(async () => {
    await Promise.all(services.splice(0).map((s) => s.close()));
    await cleanup();
  });

  function service(
    opts: Partial<ConstructorParameters<typeof EmbeddingService>[0]> = {},
  ): EmbeddingService & { ctx: ReturnType<typeof makeBreaker> } {
    const ctx = makeBreaker();
    const s = new EmbeddingService({ breaker: ctx.breaker, modelsDir: dir, ...opts });
    services.push(s);
    return Object.assign(s, { ctx });
  }

  it('opens after model load failures', async () => {
    // "invalid/model": an id that is not present in MODELS_DIR, downloads off.
    const s = service({ textModel: 'invalid/model', codeModel: 'invalid/model' });
    expect(s.breaker.state).toBe(CircuitState.Closed);
    for (let i = 0; i < 3; i++) {
      const error = await s.embed(['hello'], 'text').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ModelLoadError);
      expect((error as ModelLoadError).reason).toBe('not_found');
    }
    expect(s.breaker.state).toBe(CircuitState.Open);
  });

  it('allows retry after the recovery timeout', async () => {
    const s = service({ textModel: 'later-model' });
    for (let i = 0; i < 3; i++) await expect(s.embed(['x'])).rejects.toBeInstanceOf(ModelLoadError);
    expect(s.breaker.state).toBe(CircuitState.Open);

    const seen: string[] = [];
    s.breaker.onStateChange((e) => seen.push(`${e.from}->${e.to}`));
    await expect(s.embed(['x'])).rejects.toBeInstanceOf(CircuitOpenError);

    s.ctx.clock.advance(RECOVERY_MS);
    // The recovery timeout has passed: the next call is admitted as the HALF_OPEN probe, loads
    // the model that has appeared meanwhile, and closes the circuit.
    expect(s.breaker.metrics().retry_after_seconds).toBe(0);
    await writeTestModel(path.join(dir, 'later-model'));
    const result = await s.embed(['x']);
    expect(result.vectors).toHaveLength(1);
    expect(seen).toEqual(['open->half_open', 'half_open->closed']);
    expect(s.breaker.state).toBe(CircuitState.Closed);
  });

  it('has no fail-forever behaviour: a failed load is retried by the next call', async () => {
    // First load attempt fails (transient), the second succeeds - with no reset() in between.
    await writeTestModel(path.join(dir, 'breakerbox-mini-text'));
    const counting = countingLoader();
    let calls = 0;
    const s = service({
      loader: async (spec) => {
        if (++calls === 1) throw new Error('Transient error');
        return counting.loader(spec);
      },
    });
    // No "attempted" flags exist on the service.
    expect(Object.keys(s).some((k) => /attempted/i.test(k))).toBe(false);

    const first = await s.embed(['x']).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(ModelLoadError);
    expect((first as ModelLoadError).message).toContain('Transient error');
    expect(s.breaker.state).toBe(CircuitState.Closed);

    const second = await s.embed(['x']);
    expect(second.vectors[0]).toHaveLength(64);
    expect(s.stats().text).toMatchObject({
      loaded: true,
      loads: { started: 2, succeeded: 1, failed: 1 },
    });

    // And a manual reset() after a failure also lets the next load through.
    s.breaker.reset();
    expect((await s.embed(['y'])).vectors).toHaveLength(1);
  });

  it('exposes the breaker metrics with failure_threshold 3', () => {
    const s = service();
    const metrics = s.ctx.registry.snapshot();
    expect(metrics).toHaveProperty('embedding_service');
    const m = metrics['embedding_service']!;
    expect(m.service).toBe('embedding_service');
    expect(m.state).toBe('closed');
    expect(m.config.failure_threshold).toBe(3);
    expect(m.config.recovery_timeout).toBe(60);
    expect(m.config.half_open_max_calls).toBe(1);
  });

  it('protects both models with one breaker', async () => {
    const s = service({ textModel: 'invalid/model', codeModel: 'invalid/model' });
    await expect(s.embed(['a'], 'text')).rejects.toBeInstanceOf(ModelLoadError);
    await expect(s.embed(['a'], 'text')).rejects.toBeInstanceOf(ModelLoadError);
    await expect(s.embed(['a'], 'code')).rejects.toBeInstanceOf(ModelLoadError);
    expect(s.breaker.state).toBe(CircuitState.Open);

    // Both kinds now fail fast, without trying to load.
    const text = await s.embed(['a'], 'text').catch((e: unknown) => e);
    const code = await s.embed(['a'], 'code').catch((e: unknown) => e);
    expect(text).toBeInstanceOf(CircuitOpenError);
    expect(code).toBeInstanceOf(CircuitOpenError);
    expect((code as CircuitOpenError).breakerName).toBe('embedding_service');
    expect(s.stats().text.loads.started).toBe(2);
    expect(s.stats().code.loads.started).toBe(1);
  });
});
