import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { env, pipeline } from '@xenova/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from './errors.js';
import {
  checkModelDirectory,
  checkOnnxStructure,
  loadPipeline,
  meanPoolNormalize,
  modelFileName,
  resolveModelSpec,
} from './model-loader.js';
import { writeTestModel } from './test-model.js';

const opts = (modelsDir: string, allowDownload = false) => ({
  modelsDir,
  allowDownload,
  quantized: true,
});

describe('resolveModelSpec', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'breakerbox-ml-'));
    await mkdir(path.join(root, 'models/org/present'), { recursive: true });
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('uses absolute and ./ paths directly and reports only the base name', async () => {
    const abs = await resolveModelSpec('text', '/opt/somewhere/my-model', opts(root));
    expect(abs).toMatchObject({
      source: 'local',
      location: '/opt/somewhere/my-model',
      name: 'my-model',
    });
    const rel = await resolveModelSpec('code', './x/y', opts(root));
    expect(rel).toMatchObject({
      source: 'local',
      location: path.resolve('x/y'),
      name: 'y',
      kind: 'code',
    });
    const parent = await resolveModelSpec('code', '../x', opts(root));
    expect(parent.location).toBe(path.resolve('..', 'x'));
  });

  it('looks ids up under MODELS_DIR, then relative to the working directory', async () => {
    const modelsDir = path.join(root, 'models');
    const spec = await resolveModelSpec('text', 'org/present', opts(modelsDir));
    expect(spec).toMatchObject({
      source: 'local',
      location: path.join(modelsDir, 'org/present'),
      name: 'org/present',
      modelsDir,
    });
    // "src" is not under MODELS_DIR but is a directory relative to the working directory.
    const cwdRelative = await resolveModelSpec('text', 'src', opts(modelsDir));
    expect(cwdRelative).toMatchObject({ source: 'local', location: path.resolve('src') });
  });

  it('a missing id is expected under MODELS_DIR, or downloaded from the hub when allowed', async () => {
    const modelsDir = path.join(root, 'models');
    expect(await resolveModelSpec('text', 'org/absent', opts(modelsDir))).toMatchObject({
      source: 'local',
      location: path.join(modelsDir, 'org/absent'),
    });
    expect(await resolveModelSpec('text', 'org/absent', opts(modelsDir, true))).toMatchObject({
      source: 'hub',
      location: 'org/absent',
      allowDownload: true,
    });
    // Not a hub id: never downloaded.
    expect((await resolveModelSpec('text', 'a b c', opts(modelsDir, true))).source).toBe('local');
  });
});

describe('checkModelDirectory and checkOnnxStructure', () => {
  let root: string;
  let model: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'breakerbox-ml-'));
    model = path.join(root, 'm');
    await writeTestModel(model);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const spec = (location: string, quantized = true) => ({
    kind: 'text' as const,
    name: path.basename(location),
    source: 'local' as const,
    location,
    modelsDir: root,
    quantized,
    allowDownload: false,
  });

  async function reason(location: string): Promise<string | undefined> {
    try {
      await checkModelDirectory(spec(location));
      return undefined;
    } catch (error) {
      expect(error).toBeInstanceOf(ModelLoadError);
      return (error as ModelLoadError).reason;
    }
  }

  it('passes a good model and reports missing directories and files', async () => {
    expect(await reason(model)).toBeUndefined();
    expect(await reason(path.join(root, 'nope'))).toBe('not_found');
    await writeFile(path.join(root, 'a-file'), 'x');
    expect(await reason(path.join(root, 'a-file'))).toBe('not_found');
    const empty = path.join(root, 'empty');
    await mkdir(path.join(empty, 'onnx/model_quantized.onnx'), { recursive: true });
    expect(await reason(empty)).toBe('incomplete');
    expect(modelFileName(false)).toBe('onnx/model.onnx');
  });

  it('flags broken ONNX structure', async () => {
    const file = path.join(root, 'x.onnx');
    const check = async (bytes: number[] | Buffer): Promise<string | undefined> => {
      await writeFile(file, Buffer.from(bytes));
      return checkOnnxStructure(file);
    };
    expect(await check([])).toBe('empty file');
    expect(await check([0x08])).toMatch(/unreadable value/);
    expect(await check([0x08, 0x07])).toMatch(/no graph/);
    expect(await check([0x3a, 0x00])).toMatch(/no ir_version/);
    expect(await check([0x08, 0x07, 0x3a, 0x05, 0x01])).toMatch(/truncated/);
    expect(await check([0x08, 0x07, 0x3a, 0x01, 0x00])).toBeUndefined();
    expect(await check([0x00])).toMatch(/invalid field number/);
    expect(await check([0x0f])).toMatch(/wire type 7/);
    expect(await check([0x08, 0x07, 0x11, 1, 2, 3, 4, 5, 6, 7, 8, 0x3a, 0x00])).toBeUndefined(); // fixed64
    expect(await check([0x08, 0x07, 0x15, 1, 2, 3, 4, 0x3a, 0x00])).toBeUndefined(); // fixed32
    expect(await check([0x08, 0x80, 0x80])).toMatch(/unreadable value/);
    expect(await check([0x08, 0x01, 0x3a, 0xff, 0xff])).toMatch(/unreadable length/);
    expect(await check([0x80])).toMatch(/unreadable field tag/);
  });
});

describe('meanPoolNormalize', () => {
  it('averages unmasked tokens, normalises, and leaves an all-masked row at zero', () => {
    const hidden = { dims: [2, 2, 2], data: new Float32Array([3, 0, 100, 100, 0, 0, 0, 0]) };
    const mask = { dims: [2, 2], data: new BigInt64Array([1n, 0n, 0n, 0n]) };
    const out = meanPoolNormalize(hidden, mask);
    expect(out.dims).toEqual([2, 2]);
    expect(Array.from(out.data)).toEqual([1, 0, 0, 0]);
    expect(() => meanPoolNormalize({ dims: [2, 2], data: new Float32Array(4) }, mask)).toThrow(
      /expected a \[batch, sequence, hidden\] output/,
    );
  });
});

describe('loadPipeline', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'breakerbox-ml-'));
    await writeTestModel(path.join(root, 'breakerbox-mini-text'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('loads the generated model offline and leaves the library offline', async () => {
    const spec = await resolveModelSpec('text', 'breakerbox-mini-text', opts(root));
    const started = performance.now();
    const pipe = await loadPipeline(spec);
    const loadMs = performance.now() - started;
    expect(loadMs).toBeLessThan(2_000); // ~40 ms on a laptop
    const out = await pipe.embed(['hello', 'world']);
    expect(out.dims).toEqual([2, 64]);
    expect(env.allowRemoteModels).toBe(false);
    expect(env.useFSCache).toBe(false);
    await pipe.dispose();
  });

  it("pools like the library's own feature-extraction pipeline (up to float32 rounding)", async () => {
    const spec = await resolveModelSpec('text', 'breakerbox-mini-text', opts(root));
    const pipe = await loadPipeline(spec);
    const texts = ['hello world', '', 'a much longer sentence about circuit breakers and caches'];
    const ours = await pipe.embed(texts);
    const library = (await pipeline('feature-extraction', spec.location.slice(1), {
      local_files_only: true,
    })) as unknown as ((
      t: string[],
      o: { pooling: 'mean'; normalize: boolean },
    ) => Promise<{ dims: number[]; data: Float32Array }>) & { dispose(): Promise<unknown> };
    const theirs = await library(texts, { pooling: 'mean', normalize: true });
    expect(ours.dims).toEqual(theirs.dims);
    let max = 0;
    for (let i = 0; i < theirs.data.length; i++) {
      max = Math.max(max, Math.abs(ours.data[i]! - theirs.data[i]!));
    }
    expect(max).toBeLessThan(1e-6);
    await library.dispose();
    await pipe.dispose();
  });

  it('wraps a library failure for a hub model in ModelLoadError', async () => {
    // A hub spec with downloads off: the library refuses (no network is touched).
    const error = await loadPipeline({
      kind: 'text',
      name: 'org/absent',
      source: 'hub',
      location: 'org/absent',
      modelsDir: root,
      quantized: true,
      allowDownload: false,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as ModelLoadError).reason).toBe('not_found');
    expect((error as ModelLoadError).message).toContain('org/absent');
  });
});
