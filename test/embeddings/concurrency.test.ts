// Single-flight loading: concurrent callers share one load attempt of the real library.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CircuitState } from 'breakerbox';
import { EmbeddingService, ModelLoadError } from '../../src/dependencies/embeddings/index.js';
import {
  countingLoader,
  deferred,
  makeBreaker,
  maxAbsDiff,
  modelsDirWithBoth,
  sleep,
  tempDir,
} from './helpers.js';

describe('single-flight model loading', () => {
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

  it('100 concurrent requests during a slow load start exactly one load', async () => {
    await modelsDirWithBoth(dir);
    const gate = deferred();
    const counting = countingLoader({ gate: () => gate.promise });
    const { breaker } = makeBreaker();
    service = new EmbeddingService({ breaker, modelsDir: dir, loader: counting.loader });

    const requests = Array.from({ length: 100 }, (_, i) => service!.embed([`request ${i % 5}`]));
    // The load is in flight and held open by the gate.
    await vi.waitFor(() => expect(counting.starts.text).toBe(1));
    await sleep(20);
    expect(counting.starts.text).toBe(1);
    expect(service.stats().text).toMatchObject({ loading: true, loaded: false });
    gate.resolve();

    const results = await Promise.all(requests);
    expect(counting.starts).toEqual({ text: 1, code: 0 });
    expect(results).toHaveLength(100);
    for (let i = 0; i < 100; i++) {
      expect(maxAbsDiff(results[i]!.vectors[0]!, results[i % 5]!.vectors[0]!)).toBe(0);
    }
    expect(breaker.metrics().calls).toMatchObject({ success: 100, failure: 0 });
    expect(service.stats().text).toMatchObject({
      loaded: true,
      loading: false,
      loads: { started: 1, succeeded: 1, failed: 0 },
    });
  });

  it('the two kinds load independently (one load each) under concurrency', async () => {
    await modelsDirWithBoth(dir);
    const gate = deferred();
    const counting = countingLoader({ gate: () => gate.promise });
    const { breaker } = makeBreaker();
    service = new EmbeddingService({ breaker, modelsDir: dir, loader: counting.loader });
    const requests = Array.from({ length: 50 }, (_, i) =>
      service!.embed(['x'], i % 2 === 0 ? 'text' : 'code'),
    );
    await vi.waitFor(() => expect(counting.starts).toEqual({ text: 1, code: 1 }));
    gate.resolve();
    await Promise.all(requests);
    expect(counting.starts).toEqual({ text: 1, code: 1 });
  });

  it('one failed load shared by 100 waiters counts as one failure, and the next call retries', async () => {
    const gate = deferred();
    const counting = countingLoader({ gate: () => gate.promise });
    const { breaker } = makeBreaker();
    service = new EmbeddingService({ breaker, modelsDir: dir, loader: counting.loader }); // empty dir

    const requests = Array.from({ length: 100 }, () =>
      service!.embed(['x']).then(
        () => 'ok',
        (e: unknown) => e,
      ),
    );
    await vi.waitFor(() => expect(counting.starts.text).toBe(1));
    gate.resolve();
    const errors = await Promise.all(requests);
    expect(counting.starts.text).toBe(1);
    for (const e of errors) expect(e).toBeInstanceOf(ModelLoadError);
    // Every caller gets its own error object; only the caller that started the attempt counts.
    expect(new Set(errors).size).toBe(100);
    expect(errors.filter((e) => !(e as ModelLoadError).sharedAttempt)).toHaveLength(1);
    expect(breaker.state).toBe(CircuitState.Closed);
    expect(breaker.metrics()).toMatchObject({
      failure_count: 1,
      calls: { failure: 1, ignored: 99 },
    });

    // The failed attempt was dropped: the next call starts a fresh one.
    await expect(service.embed(['x'])).rejects.toBeInstanceOf(ModelLoadError);
    expect(counting.starts.text).toBe(2);
  });

  it('a caller that gives up (abort) stops waiting without cancelling the shared load', async () => {
    await modelsDirWithBoth(dir);
    const gate = deferred();
    const counting = countingLoader({ gate: () => gate.promise });
    const { breaker } = makeBreaker();
    service = new EmbeddingService({ breaker, modelsDir: dir, loader: counting.loader });

    const controller = new AbortController();
    const impatient = service.embed(['x'], 'text', controller.signal).catch((e: unknown) => e);
    const patient = service.embed(['x'], 'text');
    await sleep(5);
    controller.abort(new Error('client went away'));
    expect(await impatient).toMatchObject({ message: 'client went away' });
    gate.resolve();
    expect((await patient).vectors).toHaveLength(1);
    expect(counting.starts.text).toBe(1);
    // The caller's own abort is not a dependency failure.
    expect(breaker.metrics().calls).toMatchObject({ success: 1, failure: 0, ignored: 1 });
  });
});
