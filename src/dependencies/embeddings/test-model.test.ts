import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AutoTokenizer, env } from '@xenova/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOnnxStructure } from './model-loader.js';
import { DEFAULT_SEEDS, TEST_MODEL_FILES, testModelExists, writeTestModel } from './test-model.js';

async function readAll(dir: string): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  for (const file of TEST_MODEL_FILES) out[file] = await readFile(path.join(dir, file));
  return out;
}

describe('writeTestModel', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'breakerbox-tm-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes the files of a model directory, about 0.3 MB per ONNX file', async () => {
    const dir = path.join(root, 'layout');
    const info = await writeTestModel(dir);
    expect(info).toMatchObject({
      kind: 'text',
      seed: DEFAULT_SEEDS.text,
      dimension: 64,
      maxPositions: 512,
    });
    expect(info.vocabSize).toBeGreaterThan(500);
    expect(testModelExists(dir)).toBe(true);
    expect((await readdir(dir)).sort()).toEqual([
      'config.json',
      'onnx',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    const size = (await stat(path.join(dir, 'onnx/model.onnx'))).size;
    expect(size).toBeGreaterThan(200_000);
    expect(size).toBeLessThan(500_000);
    expect(await checkOnnxStructure(path.join(dir, 'onnx/model.onnx'))).toBeUndefined();
    const config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      model_type: 'bert',
      hidden_size: 64,
      breakerbox: { kind: 'text' },
    });
  });

  it('is byte-identical for the same options, different for another seed or kind', async () => {
    const a = await writeTestModel(path.join(root, 'a'));
    const b = await writeTestModel(path.join(root, 'b'));
    const filesA = await readAll(a.dir);
    const filesB = await readAll(b.dir);
    for (const file of TEST_MODEL_FILES) expect(filesA[file]!.equals(filesB[file]!)).toBe(true);
    expect(filesA['onnx/model.onnx']!.equals(filesA['onnx/model_quantized.onnx']!)).toBe(true);

    const seeded = await readAll((await writeTestModel(path.join(root, 'c'), { seed: 1 })).dir);
    expect(seeded['onnx/model.onnx']!.equals(filesA['onnx/model.onnx']!)).toBe(false);
    expect(seeded['tokenizer.json']!.equals(filesA['tokenizer.json']!)).toBe(true);

    const code = await readAll((await writeTestModel(path.join(root, 'd'), { kind: 'code' })).dir);
    expect(code['onnx/model.onnx']!.equals(filesA['onnx/model.onnx']!)).toBe(false);
    expect(JSON.parse(code['tokenizer.json']!.toString()).normalizer.lowercase).toBe(false);
  });

  it('rewrites an existing model in place, and honours dimension', async () => {
    const dir = path.join(root, 'rewrite');
    await writeTestModel(dir);
    const info = await writeTestModel(dir, { dimension: 32 });
    expect(info.dimension).toBe(32);
    const config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'));
    expect(config.hidden_size).toBe(32);
    expect((await readdir(path.join(dir, 'onnx'))).sort()).toEqual([
      'model.onnx',
      'model_quantized.onnx',
    ]); // no temp files left behind
  });

  it('rejects invalid options', async () => {
    const dir = path.join(root, 'invalid');
    await expect(writeTestModel(dir, { seed: -1 })).rejects.toThrow(/seed/);
    await expect(writeTestModel(dir, { seed: 1.5 })).rejects.toThrow(/seed/);
    await expect(writeTestModel(dir, { dimension: 1 })).rejects.toThrow(/dimension/);
    await expect(writeTestModel(dir, { maxPositions: 2 })).rejects.toThrow(/maxPositions/);
    await expect(writeTestModel(dir, { kind: 'image' as 'text' })).rejects.toThrow(/kind/);
    expect(testModelExists(dir)).toBe(false);
  });

  it('its tokenizer, loaded by the library, covers printable ASCII without [UNK]', async () => {
    const dir = path.join(root, 'tok');
    await writeTestModel(dir, { kind: 'code' });
    env.allowRemoteModels = false;
    env.useFSCache = false;
    env.localModelPath = '/';
    const tokenizer = await AutoTokenizer.from_pretrained(dir.slice(1), { local_files_only: true });
    let ascii = '';
    for (let c = 0x20; c <= 0x7e; c++) ascii += String.fromCharCode(c);
    const ids = Array.from(
      (
        tokenizer(`${ascii} function fooBar_baz(x) { return x*2; }`) as {
          input_ids: { data: BigInt64Array };
        }
      ).input_ids.data,
      Number,
    );
    expect(ids[0]).toBe(2); // [CLS]
    expect(ids.at(-1)).toBe(3); // [SEP]
    expect(ids).not.toContain(1); // [UNK]
    // Common words are single tokens.
    const words = Array.from(
      (tokenizer('function return') as { input_ids: { data: BigInt64Array } }).input_ids.data,
      Number,
    );
    expect(words).toHaveLength(4);
  });
});
