// Embedding quality properties of the generated models through the real library: deterministic,
// batch equals one-at-a-time, normalised, text and code models independent but one breaker.

import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CircuitOpenError, CircuitState } from 'breakerbox';
import {
  EmbeddingService,
  ModelLoadError,
  writeTestModel,
} from '../../src/dependencies/embeddings/index.js';
import { cosine, makeBreaker, maxAbsDiff, modelsDirWithBoth, tempDir } from './helpers.js';

const TEXTS = [
  'hello world',
  'The circuit breaker opened after three consecutive failures.',
  'Redis is down; the service answers from its L1 cache.',
  '',
  'x',
  'Ünïcödé words and emoji 🚀 become [UNK] or lose their accents',
  'a much longer input '.repeat(40),
];
const CODE = [
  'function add(a, b) { return a + b; }',
  'def add(a, b):\n    return a + b',
  'const x = await fetch(url);',
  'SELECT * FROM users WHERE id = 1;',
];

describe('embeddings from the generated models', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let service: EmbeddingService;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    await modelsDirWithBoth(dir);
    service = new EmbeddingService({ breaker: makeBreaker().breaker, modelsDir: dir });
  });
  afterAll(async () => {
    await service.close();
    await cleanup();
  });

  it('returns one normalised vector per input, in order, with the model name and dimension', async () => {
    const result = await service.embed(TEXTS, 'text');
    expect(result).toMatchObject({ model: 'breakerbox-mini-text', kind: 'text', dimension: 64 });
    expect(result.vectors).toHaveLength(TEXTS.length);
    for (const v of result.vectors) {
      expect(v).toHaveLength(64);
      expect(v.every(Number.isFinite)).toBe(true);
      expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    }
    // Different inputs, different vectors.
    expect(maxAbsDiff(result.vectors[0]!, result.vectors[1]!)).toBeGreaterThan(0.01);
  });

  it('is deterministic: the same input gives the same vector, across calls and fresh loads', async () => {
    const a = await service.embed(TEXTS, 'text');
    const b = await service.embed(TEXTS, 'text');
    expect(b.vectors).toEqual(a.vectors);

    // A second model written independently and loaded by another service: identical vectors.
    const other = await tempDir();
    try {
      await modelsDirWithBoth(other.dir);
      const fresh = new EmbeddingService({ breaker: makeBreaker().breaker, modelsDir: other.dir });
      expect((await fresh.embed(TEXTS, 'text')).vectors).toEqual(a.vectors);
      await fresh.close();
    } finally {
      await other.cleanup();
    }
  });

  it('a batch equals the same inputs one at a time (padding and the attention mask do not leak)', async () => {
    for (const [kind, inputs] of [
      ['text', TEXTS],
      ['code', CODE],
    ] as const) {
      const batch = await service.embed(inputs, kind);
      for (let i = 0; i < inputs.length; i++) {
        const single = await service.embed([inputs[i]!], kind);
        // Each token's vector depends only on that token, so the results are equal up to the
        // float rounding of onnxruntime's batched MatMul (in practice exactly equal).
        expect(maxAbsDiff(batch.vectors[i]!, single.vectors[0]!)).toBeLessThan(1e-6);
      }
    }
  });

  it('similar texts are closer than unrelated ones (a usable, if untrained, embedding)', async () => {
    const [a, b, c] = (
      await service.embed(
        [
          'the cache service is down',
          'the cache service is down again',
          'function return const async',
        ],
        'text',
      )
    ).vectors;
    expect(cosine(a!, b!)).toBeGreaterThan(cosine(a!, c!));
  });

  it('text and code models are independent: different vectors for the same input', async () => {
    const text = await service.embed(CODE, 'text');
    const code = await service.embed(CODE, 'code');
    expect(code.model).toBe('breakerbox-mini-code');
    for (let i = 0; i < CODE.length; i++) {
      expect(Math.abs(cosine(text.vectors[i]!, code.vectors[i]!))).toBeLessThan(0.9);
    }
    // The code model keeps case; the text model lowercases.
    const [upper, lower] = (await service.embed(['Return Value', 'return value'], 'code')).vectors;
    expect(maxAbsDiff(upper!, lower!)).toBeGreaterThan(0.01);
    const [tUpper, tLower] = (await service.embed(['Return Value', 'return value'], 'text'))
      .vectors;
    expect(maxAbsDiff(tUpper!, tLower!)).toBe(0);
  });

  it('text and code share the one breaker: failures of one kind open it for both', async () => {
    const local = await tempDir();
    try {
      await writeTestModel(path.join(local.dir, 'breakerbox-mini-text'));
      const { breaker } = makeBreaker();
      const s = new EmbeddingService({ breaker, modelsDir: local.dir });
      await s.embed(['works'], 'text');
      for (let i = 0; i < 3; i++) {
        await expect(s.embed(['x'], 'code')).rejects.toBeInstanceOf(ModelLoadError);
      }
      expect(breaker.state).toBe(CircuitState.Open);
      await expect(s.embed(['works'], 'text')).rejects.toBeInstanceOf(CircuitOpenError);
      await s.close();
    } finally {
      await local.cleanup();
    }
  });
});
