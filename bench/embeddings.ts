// Embeddings per second with the project's generated model, at batch sizes 1, 8 and 32.
//
//   npx tsx bench/embeddings.ts [--seconds N] [--words N]
//
// Columns: the full service path (breaker.execute + single-flight check + adapter + conversion to
// number[][]); the loader's adapter alone (library tokenizer + model, our pooling); and the
// library's own feature-extraction pipeline with its mean pooling, for comparison. Nothing is
// downloaded: the model is written into a temp directory.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pipeline } from '@xenova/transformers';
import { CircuitBreaker } from 'breakerbox';
import {
  EmbeddingService,
  isEmbeddingFailure,
  loadPipeline,
  resolveModelSpec,
  writeTestModel,
} from '../src/dependencies/embeddings/index.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    words: { type: 'string', default: '16' },
  },
});
const SECONDS = Number(values.seconds);
const WORDS = Number(values.words);
const BATCH_SIZES = [1, 8, 32];

const VOCAB =
  'the circuit breaker opened after three failures while redis was down and the cache served stale values to every request until recovery'.split(
    ' ',
  );

function sentence(i: number): string {
  const words: string[] = [];
  for (let w = 0; w < WORDS; w++) words.push(VOCAB[(i * 7 + w * 3) % VOCAB.length]!);
  return `${words.join(' ')} #${i}`;
}

async function measure(
  batch: number,
  run: (inputs: string[]) => Promise<unknown>,
): Promise<{ perSecond: number; p50: number; p99: number }> {
  const inputs = Array.from({ length: batch }, (_, i) => sentence(i));
  for (let i = 0; i < 20; i++) await run(inputs); // warm-up
  const latencies: number[] = [];
  const start = performance.now();
  let embedded = 0;
  while (performance.now() - start < SECONDS * 1000) {
    const t = performance.now();
    await run(inputs);
    latencies.push(performance.now() - t);
    embedded += batch;
  }
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
  return { perSecond: embedded / elapsed, p50: q(0.5), p99: q(0.99) };
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'breakerbox-bench-'));
try {
  const info = await writeTestModel(path.join(dir, 'breakerbox-mini-text'));
  const breaker = new CircuitBreaker({
    name: 'embedding_service',
    failureThreshold: 3,
    recoveryTimeout: 60_000,
    registry: null,
    isFailure: isEmbeddingFailure,
  });
  const service = new EmbeddingService({ breaker, modelsDir: dir });
  const loadStart = performance.now();
  await service.embed(['load']);
  const loadMs = performance.now() - loadStart;

  const spec = await resolveModelSpec('text', 'breakerbox-mini-text', {
    modelsDir: dir,
    allowDownload: false,
    quantized: true,
  });
  const bare = await loadPipeline(spec);
  // The library's own pipeline with its own pooling, for comparison.
  const library = (await pipeline('feature-extraction', spec.location.slice(1), {
    local_files_only: true,
  })) as unknown as ((
    texts: string[],
    options: { pooling: 'mean'; normalize: boolean },
  ) => Promise<unknown>) & { dispose(): Promise<unknown> };

  console.log(
    `breakerbox-mini-text: dimension ${info.dimension}, vocabulary ${info.vocabSize}, ` +
      `${WORDS}-word inputs (~${WORDS + 4} tokens), first load + embed ${loadMs.toFixed(1)} ms, ` +
      `node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}`,
  );
  console.log('');
  console.log(
    '| batch | service emb/s | adapter emb/s | library pipeline emb/s | service p50 ms | service p99 ms |',
  );
  console.log(
    '|------:|--------------:|--------------:|-----------------------:|---------------:|---------------:|',
  );
  for (const batch of BATCH_SIZES) {
    const viaService = await measure(batch, (inputs) => service.embed(inputs));
    const viaAdapter = await measure(batch, (inputs) => bare.embed(inputs));
    const viaLibrary = await measure(batch, (inputs) =>
      library(inputs, { pooling: 'mean', normalize: true }),
    );
    const cells = [
      String(batch).padStart(5),
      viaService.perSecond.toFixed(0).padStart(13),
      viaAdapter.perSecond.toFixed(0).padStart(13),
      viaLibrary.perSecond.toFixed(0).padStart(22),
      viaService.p50.toFixed(3).padStart(14),
      viaService.p99.toFixed(3).padStart(14),
    ];
    console.log(`| ${cells.join(' | ')} |`);
  }
  await bare.dispose();
  await library.dispose();
  await service.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
