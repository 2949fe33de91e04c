// Shared set-up for the embedding tests: real models written by writeTestModel into a temp dir,
// a breaker configured like the service's (threshold 3, recovery 60 s, one probe) on a FakeClock,
// and loader wrappers that count or slow down the REAL library's loads.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BreakerRegistry, CircuitBreaker, FakeClock } from 'breakerbox';
import {
  EmbeddingService,
  isEmbeddingFailure,
  loadPipeline,
  writeTestModel,
  type EmbeddingPipeline,
  type EmbeddingServiceOptions,
  type ModelLoader,
  type ModelSpec,
} from '../../src/dependencies/embeddings/index.js';

export const RECOVERY_MS = 60_000;

export async function tempDir(prefix = 'breakerbox-emb-'): Promise<{
  dir: string;
  cleanup: () => Promise<void>;
}> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** MODELS_DIR with breakerbox-mini-text and breakerbox-mini-code written into it. */
export async function modelsDirWithBoth(dir: string): Promise<string> {
  await writeTestModel(path.join(dir, 'breakerbox-mini-text'), { kind: 'text' });
  await writeTestModel(path.join(dir, 'breakerbox-mini-code'), { kind: 'code' });
  return dir;
}

export function makeBreaker(clock = new FakeClock()): {
  breaker: CircuitBreaker;
  clock: FakeClock;
  registry: BreakerRegistry;
} {
  const registry = new BreakerRegistry();
  const breaker = new CircuitBreaker({
    name: 'embedding_service',
    failureThreshold: 3,
    recoveryTimeout: RECOVERY_MS,
    halfOpenMaxCalls: 1,
    critical: true,
    registry,
    clock,
    scheduler: clock,
    isFailure: isEmbeddingFailure,
  });
  return { breaker, clock, registry };
}

export interface CountingLoader {
  loader: ModelLoader;
  /** Load attempts that reached the loader, per kind. */
  starts: { text: number; code: number };
  /** dispose() calls on pipelines this loader returned. */
  disposed: number;
  specs: ModelSpec[];
}

/**
 * Wraps the real loader: counts starts, optionally waits for `gate` before loading (a slow load)
 * and counts dispose() calls on the real pipelines it hands out.
 */
export function countingLoader(
  options: { gate?: () => Promise<void>; delayMs?: number } = {},
): CountingLoader {
  const state: CountingLoader = {
    starts: { text: 0, code: 0 },
    disposed: 0,
    specs: [],
    loader: async (spec) => {
      state.starts[spec.kind]++;
      state.specs.push(spec);
      if (options.gate) await options.gate();
      if (options.delayMs !== undefined) await sleep(options.delayMs);
      const real = await loadPipeline(spec);
      const wrapped: EmbeddingPipeline = {
        embed: (texts) => real.embed(texts),
        dispose: async () => {
          state.disposed++;
          return real.dispose();
        },
      };
      return wrapped;
    },
  };
  return state;
}

export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function newService(
  options: Partial<EmbeddingServiceOptions> & { breaker: CircuitBreaker },
): EmbeddingService {
  return new EmbeddingService(options);
}

export function maxAbsDiff(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

export function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}
