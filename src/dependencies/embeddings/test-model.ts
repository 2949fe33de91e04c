// The project's own small, deterministic, BERT-style embedding model.
//
// writeTestModel(dir) writes a real ONNX model plus a WordPiece tokenizer that
// @xenova/transformers loads offline through its normal code path (`pipeline('feature-extraction',
// dir)`), so tests, benchmarks and a fresh `npm start` get real embeddings without any download.
//
// Graph (opset 13):
//   tok  = Gather(word_embeddings, input_ids)                  [batch, seq, D]
//   pos  = Slice(position_embeddings, 0, seq_len)              [seq, D]
//   h    = Tanh(MatMul(tok + pos, dense_weight) + dense_bias)  [batch, seq, D]
//   last_hidden_state = h * attention_mask[..., None]
// Every token's vector depends only on its own id and position (no attention), so padding a
// batch never changes the real tokens, and mean pooling with the mask gives a batch result that
// is identical to the one-at-a-time result.
//
// Files written (the layout of a Hugging Face / Xenova model directory):
//   config.json, tokenizer.json, tokenizer_config.json,
//   onnx/model.onnx and onnx/model_quantized.onnx (the same bytes: `pipeline()` loads the
//   `_quantized` file by default and `quantized: false` loads the other; both work).
//
// Determinism: all weights come from a seeded xorshift PRNG using integer and exact float
// arithmetic only (no Math.sin/log), JSON is written with a fixed key order, and the protobuf
// carries no timestamps - the same options always give byte-identical files.

import { mkdir, rename, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { SPECIAL_TOKENS, buildVocabulary } from './test-model-vocab.js';

const { onnx } = onnxProto;

export type TestModelKind = 'text' | 'code';

export interface TestModelOptions {
  /** 'text' lowercases and strips accents; 'code' keeps case. Default 'text'. */
  kind?: TestModelKind;
  /** PRNG seed (uint32). Default: DEFAULT_SEEDS[kind], so text and code models differ. */
  seed?: number;
  /** Embedding dimension. Default 64. */
  dimension?: number;
  /** Longest input in tokens, [CLS] and [SEP] included. Default 512. */
  maxPositions?: number;
}

export interface TestModelInfo {
  dir: string;
  kind: TestModelKind;
  seed: number;
  dimension: number;
  vocabSize: number;
  maxPositions: number;
  /** Paths relative to dir. */
  files: string[];
}

/** Bump when the output of writeTestModel changes for the same options. */
export const TEST_MODEL_GENERATOR_VERSION = 1;
export const DEFAULT_TEST_MODEL_DIMENSION = 64;
export const DEFAULT_SEEDS: Readonly<Record<TestModelKind, number>> = {
  text: 0x7e57,
  code: 0xc0de,
};

/** The files every loadable model directory has (relative paths). */
export const TEST_MODEL_FILES = [
  'config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'onnx/model.onnx',
  'onnx/model_quantized.onnx',
] as const;

/** True when dir already holds every file writeTestModel writes. */
export function testModelExists(dir: string): boolean {
  return TEST_MODEL_FILES.every((f) => existsSync(path.join(dir, f)));
}

/** Writes the model into dir (created if needed; existing files are replaced atomically). */
export async function writeTestModel(
  dir: string,
  opts: TestModelOptions = {},
): Promise<TestModelInfo> {
  const kind = opts.kind ?? 'text';
  if (kind !== 'text' && kind !== 'code')
    throw new TypeError(`unknown model kind: ${String(kind)}`);
  const seed = opts.seed ?? DEFAULT_SEEDS[kind];
  const dimension = opts.dimension ?? DEFAULT_TEST_MODEL_DIMENSION;
  const maxPositions = opts.maxPositions ?? 512;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`seed must be an integer in [0, 2^32): ${seed}`);
  }
  if (!Number.isInteger(dimension) || dimension < 2 || dimension > 4096) {
    throw new RangeError(`dimension must be an integer in [2, 4096]: ${dimension}`);
  }
  if (!Number.isInteger(maxPositions) || maxPositions < 4 || maxPositions > 8192) {
    throw new RangeError(`maxPositions must be an integer in [4, 8192]: ${maxPositions}`);
  }

  const vocab = buildVocabulary();
  const onnxBytes = buildOnnxModel({ seed, dimension, vocabSize: vocab.length, maxPositions });
  const contents: Record<(typeof TEST_MODEL_FILES)[number], string | Uint8Array> = {
    'config.json': json(buildConfig(kind, seed, dimension, vocab.length, maxPositions)),
    'tokenizer.json': json(buildTokenizer(vocab, kind)),
    'tokenizer_config.json': json(buildTokenizerConfig(kind, maxPositions)),
    'onnx/model.onnx': onnxBytes,
    'onnx/model_quantized.onnx': onnxBytes,
  };

  await mkdir(path.join(dir, 'onnx'), { recursive: true });
  for (const file of TEST_MODEL_FILES) {
    const target = path.join(dir, file);
    const tmp = `${target}.${process.pid}.tmp`;
    await writeFile(tmp, contents[file]);
    await rename(tmp, target);
  }
  return {
    dir,
    kind,
    seed,
    dimension,
    vocabSize: vocab.length,
    maxPositions,
    files: [...TEST_MODEL_FILES],
  };
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function buildConfig(
  kind: TestModelKind,
  seed: number,
  dimension: number,
  vocabSize: number,
  maxPositions: number,
): Record<string, unknown> {
  return {
    _name_or_path: `breakerbox-mini-${kind}`,
    architectures: ['BertModel'],
    model_type: 'bert',
    hidden_size: dimension,
    intermediate_size: dimension,
    num_hidden_layers: 1,
    num_attention_heads: 1,
    hidden_act: 'tanh',
    max_position_embeddings: maxPositions,
    type_vocab_size: 1,
    vocab_size: vocabSize,
    pad_token_id: 0,
    breakerbox: {
      description:
        'breakerbox deterministic test embedding model (not a trained model; for tests, demos and benchmarks)',
      kind,
      seed,
      generator_version: TEST_MODEL_GENERATOR_VERSION,
    },
  };
}

function buildTokenizer(vocab: readonly string[], kind: TestModelKind): Record<string, unknown> {
  const vocabObject: Record<string, number> = {};
  vocab.forEach((token, id) => {
    vocabObject[token] = id;
  });
  const id = (token: string): number => {
    const value = vocabObject[token];
    if (value === undefined) throw new Error(`token missing from vocabulary: ${token}`);
    return value;
  };
  const lowercase = kind === 'text';
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content) => ({
      id: id(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: vocabObject,
    },
  };
}

function buildTokenizerConfig(kind: TestModelKind, maxPositions: number): Record<string, unknown> {
  return {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: kind === 'text',
    model_max_length: maxPositions,
    clean_up_tokenization_spaces: true,
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    mask_token: '[MASK]',
  };
}

// ---------------------------------------------------------------------------------------------
// Deterministic weights

/** xorshift32 with a splitmix-style seed scramble; integer arithmetic only. */
function prng(seed: number): () => number {
  let s = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  s = Math.imul(s ^ (s >>> 13), 0xc2b2ae35) >>> 0;
  if (s === 0) s = 0x6d2b79f5;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/** n float32 values uniform in [-scale, scale), from exact arithmetic only. */
function uniform(next: () => number, n: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (next() / 0x80000000 - 1) * scale;
  return out;
}

interface GraphShape {
  seed: number;
  dimension: number;
  vocabSize: number;
  maxPositions: number;
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

function floatTensor(name: string, dims: number[], data: Float32Array): OnnxTypes.ITensorProto {
  // ONNX raw_data is little-endian; copy byte by byte so the output does not depend on the host.
  const raw = new Uint8Array(data.length * 4);
  const view = new DataView(raw.buffer);
  data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return { name, dims, dataType: FLOAT, rawData: raw };
}

function int64Tensor(name: string, values: number[]): OnnxTypes.ITensorProto {
  const raw = new Uint8Array(values.length * 8);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return { name, dims: [values.length], dataType: INT64, rawData: raw };
}

function valueInfo(
  name: string,
  elemType: number,
  dims: (string | number)[],
): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: {
          dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })),
        },
      },
    },
  };
}

function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  attribute: OnnxTypes.IAttributeProto[] = [],
): OnnxTypes.INodeProto {
  return { opType, input: inputs, output: outputs, name: outputs[0] ?? opType, attribute };
}

function buildOnnxModel({ seed, dimension: d, vocabSize, maxPositions }: GraphShape): Uint8Array {
  const next = prng(seed);
  const wordEmbeddings = uniform(next, vocabSize * d, 1);
  // Positions matter, but less than words: similar bags of words stay similar.
  const positionEmbeddings = uniform(next, maxPositions * d, 0.1);
  // Var(U(-a, a)) = a^2 / 3, so a = sqrt(3 / d) keeps the projection's scale near its input's.
  const denseWeight = uniform(next, d * d, Math.sqrt(3 / d));
  const denseBias = uniform(next, d, 0.1);

  const graph: OnnxTypes.IGraphProto = {
    name: 'breakerbox_mini',
    input: [
      valueInfo('input_ids', INT64, ['batch_size', 'sequence_length']),
      valueInfo('attention_mask', INT64, ['batch_size', 'sequence_length']),
    ],
    output: [valueInfo('last_hidden_state', FLOAT, ['batch_size', 'sequence_length', d])],
    initializer: [
      floatTensor('word_embeddings', [vocabSize, d], wordEmbeddings),
      floatTensor('position_embeddings', [maxPositions, d], positionEmbeddings),
      floatTensor('dense_weight', [d, d], denseWeight),
      floatTensor('dense_bias', [d], denseBias),
      int64Tensor('const_0', [0]),
      int64Tensor('const_1', [1]),
      int64Tensor('const_2', [2]),
    ],
    node: [
      node(
        'Gather',
        ['word_embeddings', 'input_ids'],
        ['token_vectors'],
        [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }],
      ),
      node('Shape', ['input_ids'], ['input_shape']),
      // seq_len = input_shape[1:2]
      node('Slice', ['input_shape', 'const_1', 'const_2', 'const_0'], ['sequence_length']),
      node(
        'Slice',
        ['position_embeddings', 'const_0', 'sequence_length', 'const_0'],
        ['position_vectors'],
      ),
      node('Add', ['token_vectors', 'position_vectors'], ['embedded']),
      node('MatMul', ['embedded', 'dense_weight'], ['projected']),
      node('Add', ['projected', 'dense_bias'], ['biased']),
      node('Tanh', ['biased'], ['activated']),
      node(
        'Cast',
        ['attention_mask'],
        ['mask_float'],
        [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }],
      ),
      node('Unsqueeze', ['mask_float', 'const_2'], ['mask_expanded']),
      node('Mul', ['activated', 'mask_expanded'], ['last_hidden_state']),
    ],
  };

  const model: OnnxTypes.IModelProto = {
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'breakerbox',
    producerVersion: String(TEST_MODEL_GENERATOR_VERSION),
    docString: 'breakerbox deterministic test embedding model',
    graph,
  };
  const err = onnx.ModelProto.verify(model);
  if (err) throw new Error(`invalid ONNX model: ${err}`);
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}
