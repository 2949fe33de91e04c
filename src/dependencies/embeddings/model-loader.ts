// Finding and loading embedding models with @xenova/transformers, offline by default.
//
// - A model is configured as a directory (absolute, or starting with ./ or ../) or as a model
//   id such as `breakerbox-mini-text` or `Xenova/all-MiniLM-L6-v2`, looked up as
//   MODELS_DIR/<id> (then as a directory relative to the working directory).
// - Nothing is downloaded unless downloads are allowed (EMBEDDING_ALLOW_DOWNLOAD=true). Then an
//   id that is not present locally is fetched from the Hugging Face hub and stored under
//   MODELS_DIR/<id>, so the next start finds it locally.
// - Local loads pass the absolute directory to the library with `env.localModelPath = '/'`
//   and `local_files_only: true`, so the library's file cache can never shadow the directory
//   and nothing in the environment can trigger a download.
// - Before the library is called, the directory is checked (exists, required files present,
//   JSON parses, ONNX file structurally whole), so a missing or corrupt model gives a precise
//   ModelLoadError at once instead of the library's warnings, wasm retry and "Can't create a
//   session".
//
// The library's `env` is process-wide: services with different download settings in one process
// share it (the last load's settings win for downloads; local loads are unaffected).

import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { env, pipeline } from '@xenova/transformers';
import { ModelLoadError } from './errors.js';
import type { EmbeddingKind } from './limits.js';

/** Where a model comes from, resolved for one load attempt. */
export interface ModelSpec {
  kind: EmbeddingKind;
  /** Name reported in responses: the id, or the directory's base name (never a full path). */
  name: string;
  /** 'local': `location` is an absolute directory. 'hub': `location` is a hub id to download. */
  source: 'local' | 'hub';
  location: string;
  /** Absolute MODELS_DIR (downloads are stored there). */
  modelsDir: string;
  /** Load onnx/model_quantized.onnx (true, the library default) or onnx/model.onnx. */
  quantized: boolean;
  allowDownload: boolean;
}

export interface ModelResolveOptions {
  modelsDir: string;
  allowDownload: boolean;
  quantized: boolean;
}

/** A loaded model, as the service uses it. */
export interface EmbeddingPipeline {
  /**
   * Mean-pooled (over the attention mask), L2-normalised embeddings of `texts`: a row-major
   * matrix with dims [texts.length, dimension].
   */
  embed(texts: string[]): Promise<{ dims: number[]; data: ArrayLike<number> }>;
  dispose(): Promise<unknown>;
}

/** Loads a model. The service calls it once per load attempt; tests may wrap it. */
export type ModelLoader = (spec: ModelSpec) => Promise<EmbeddingPipeline>;

const HUB_ID = /^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/;

function looksLikePath(value: string): boolean {
  return (
    path.isAbsolute(value) ||
    value === '.' ||
    value === '..' ||
    value.startsWith('./') ||
    value.startsWith('../') ||
    value.startsWith('.\\') ||
    value.startsWith('..\\')
  );
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Resolves a configured model (directory or id) for one load attempt. Resolution runs on every
 * attempt, so a model placed on disk after start-up is picked up by the next attempt.
 */
export async function resolveModelSpec(
  kind: EmbeddingKind,
  configured: string,
  options: ModelResolveOptions,
): Promise<ModelSpec> {
  const modelsDir = path.resolve(options.modelsDir);
  const base = {
    kind,
    modelsDir,
    quantized: options.quantized,
    allowDownload: options.allowDownload,
  };
  if (looksLikePath(configured)) {
    const location = path.resolve(configured);
    return { ...base, name: path.basename(location), source: 'local', location };
  }
  const underModelsDir = path.resolve(modelsDir, configured);
  if (await isDirectory(underModelsDir)) {
    return { ...base, name: configured, source: 'local', location: underModelsDir };
  }
  const relative = path.resolve(configured);
  if (await isDirectory(relative)) {
    return { ...base, name: configured, source: 'local', location: relative };
  }
  if (options.allowDownload && HUB_ID.test(configured)) {
    return { ...base, name: configured, source: 'hub', location: configured };
  }
  // Not present: report the place it was expected.
  return { ...base, name: configured, source: 'local', location: underModelsDir };
}

export function modelFileName(quantized: boolean): string {
  return quantized ? 'onnx/model_quantized.onnx' : 'onnx/model.onnx';
}

const JSON_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json'] as const;

function loadError(
  spec: ModelSpec,
  reason: ModelLoadError['reason'],
  detail: string,
  cause?: unknown,
): ModelLoadError {
  return new ModelLoadError({
    kind: spec.kind,
    model: spec.name,
    location: spec.location,
    reason,
    detail,
    cause,
  });
}

/**
 * Checks a local model directory before the library sees it. Throws ModelLoadError with reason
 * not_found, incomplete or corrupt; resolves when the directory looks loadable.
 */
export async function checkModelDirectory(spec: ModelSpec): Promise<void> {
  const dir = spec.location;
  if (!(await isDirectory(dir))) {
    throw loadError(spec, 'not_found', 'model directory not found');
  }
  const onnxFile = modelFileName(spec.quantized);
  for (const file of [...JSON_FILES, onnxFile]) {
    try {
      const s = await stat(path.join(dir, file));
      if (!s.isFile()) throw new Error('not a file');
    } catch {
      throw loadError(spec, 'incomplete', `model directory incomplete: ${file} is missing`);
    }
  }
  for (const file of JSON_FILES) {
    try {
      JSON.parse(await readFile(path.join(dir, file), 'utf8'));
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw loadError(spec, 'corrupt', `corrupt model file ${file} (${why})`, error);
    }
  }
  const problem = await checkOnnxStructure(path.join(dir, onnxFile));
  if (problem !== undefined) {
    throw loadError(spec, 'corrupt', `corrupt model file ${onnxFile} (${problem})`);
  }
}

/**
 * A shallow structural check of an ONNX file (a protobuf ModelProto): walks the top-level
 * fields without decoding the graph, so it costs a few small reads whatever the model's size.
 * Catches truncated, empty and non-ONNX files. Returns a description of the problem, or
 * undefined if the file looks whole.
 */
export async function checkOnnxStructure(file: string): Promise<string | undefined> {
  const handle = await open(file, 'r');
  try {
    const size = (await handle.stat()).size;
    if (size === 0) return 'empty file';
    const chunk = Buffer.alloc(16);
    let offset = 0;
    const seen = new Set<number>();
    const readVarint = async (): Promise<number | undefined> => {
      const { bytesRead } = await handle.read(chunk, 0, 10, offset);
      let value = 0;
      let scale = 1;
      for (let i = 0; i < bytesRead; i++) {
        const byte = chunk[i]!;
        value += (byte & 0x7f) * scale;
        scale *= 128;
        if ((byte & 0x80) === 0) {
          offset += i + 1;
          return value;
        }
      }
      return undefined;
    };
    while (offset < size) {
      const tag = await readVarint();
      if (tag === undefined) return `unreadable field tag at byte ${offset}`;
      const field = Math.floor(tag / 8);
      const wireType = tag % 8;
      if (field === 0) return `invalid field number at byte ${offset}`;
      switch (wireType) {
        case 0:
          if ((await readVarint()) === undefined) return `unreadable value at byte ${offset}`;
          break;
        case 1:
          offset += 8;
          break;
        case 2: {
          const length = await readVarint();
          if (length === undefined) return `unreadable length at byte ${offset}`;
          offset += length;
          break;
        }
        case 5:
          offset += 4;
          break;
        default:
          return `not an ONNX model (wire type ${wireType} at byte ${offset})`;
      }
      if (offset > size) return `truncated (${size} bytes, a field ends at byte ${offset})`;
      seen.add(field);
    }
    if (!seen.has(1)) return 'no ir_version: not an ONNX model';
    if (!seen.has(7)) return 'no graph: not an ONNX model';
    return undefined;
  } finally {
    await handle.close();
  }
}

function configureLibrary(spec: ModelSpec): void {
  // Local directories are passed as absolute paths rooted at '/', identical for every load.
  env.localModelPath = '/';
  env.allowLocalModels = true;
  env.allowRemoteModels = spec.allowDownload;
  // The file cache is only the download store (MODELS_DIR, passed per call as cache_dir).
  env.useFSCache = spec.allowDownload;
}

/** The parts of the library's FeatureExtractionPipeline that the adapter uses. */
interface LibraryTensor {
  dims: number[];
  data: ArrayLike<number | bigint>;
}
interface FeatureExtractor {
  tokenizer(
    texts: string[],
    options: { padding: boolean; truncation: boolean },
  ): Record<string, LibraryTensor> & { attention_mask: LibraryTensor };
  model(inputs: Record<string, LibraryTensor>): Promise<Record<string, LibraryTensor | undefined>>;
  dispose(): Promise<unknown>;
}

/**
 * The real loader: checks a local directory, then `pipeline('feature-extraction', ...)`.
 * Errors are ModelLoadError (not_found, incomplete, corrupt, failed).
 *
 * The returned adapter runs the pipeline's own tokenizer and model and pools itself: the
 * library's `mean_pooling` reads the BigInt attention mask once per hidden value (an
 * allocation each), which made pooling 80% of a batch's time with the small model.
 */
export const loadPipeline: ModelLoader = async (spec) => {
  if (spec.source === 'local') await checkModelDirectory(spec);
  configureLibrary(spec);
  const modelPath =
    spec.source === 'local'
      ? spec.location.split(path.sep).join('/').replace(/^\/+/, '')
      : spec.location;
  let extractor: FeatureExtractor;
  try {
    extractor = (await pipeline('feature-extraction', modelPath, {
      quantized: spec.quantized,
      local_files_only: !spec.allowDownload,
      cache_dir: spec.modelsDir,
    })) as unknown as FeatureExtractor;
  } catch (error) {
    throw classifyLibraryError(spec, error);
  }
  return {
    async embed(texts) {
      const inputs = extractor.tokenizer(texts, { padding: true, truncation: true });
      const outputs = await extractor.model(inputs);
      // The same output the library's feature-extraction pipeline picks.
      const hidden = outputs.last_hidden_state ?? outputs.logits ?? outputs.token_embeddings;
      if (hidden === undefined) throw new Error('the model has no last_hidden_state output');
      return meanPoolNormalize(hidden, inputs.attention_mask);
    },
    dispose: () => extractor.dispose(),
  };
};

/**
 * Mean pooling over the attention mask, then L2 normalisation, in float64. Masked (padding)
 * tokens are skipped, so a text's vector does not depend on what it was batched with.
 */
export function meanPoolNormalize(
  hidden: LibraryTensor,
  mask: LibraryTensor,
): { dims: number[]; data: Float64Array } {
  const [batch, seq, dim] = hidden.dims;
  if (hidden.dims.length !== 3 || batch === undefined || seq === undefined || dim === undefined) {
    throw new Error(`expected a [batch, sequence, hidden] output, got [${hidden.dims.join(', ')}]`);
  }
  const values = hidden.data as ArrayLike<number>;
  const out = new Float64Array(batch * dim);
  for (let b = 0; b < batch; b++) {
    const row = b * dim;
    let count = 0;
    for (let t = 0; t < seq; t++) {
      const weight = Number(mask.data[b * seq + t]);
      if (weight === 0) continue;
      count += weight;
      const base = (b * seq + t) * dim;
      for (let k = 0; k < dim; k++) out[row + k]! += values[base + k]! * weight;
    }
    let norm = 0;
    for (let k = 0; k < dim; k++) {
      const mean = count > 0 ? out[row + k]! / count : 0;
      out[row + k] = mean;
      norm += mean * mean;
    }
    norm = Math.sqrt(norm);
    if (norm > 0) for (let k = 0; k < dim; k++) out[row + k]! /= norm;
  }
  return { dims: [batch, dim], data: out };
}

function classifyLibraryError(spec: ModelSpec, error: unknown): ModelLoadError {
  if (error instanceof ModelLoadError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/can't create a session|protobuf parsing failed|failed to load model/i.test(message)) {
    return loadError(
      spec,
      'corrupt',
      `corrupt model file ${modelFileName(spec.quantized)} (${message})`,
      error,
    );
  }
  if (/file was not found locally|could not locate file|404/i.test(message)) {
    return loadError(spec, 'not_found', `model files not found (${message})`, error);
  }
  return loadError(spec, 'failed', message, error);
}
