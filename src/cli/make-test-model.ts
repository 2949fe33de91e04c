#!/usr/bin/env node
// Writes breakerbox's small deterministic embedding model (see
// src/dependencies/embeddings/test-model.ts) into one or more directories.
//
//   npm run make-test-model -- [--if-missing] [--kind text|code] [--seed N] [--dimension N] DIR...
//
// Each DIR becomes one model (config.json, tokenizer*.json, onnx/model*.onnx); point
// EMBEDDING_MODEL or CODE_EMBEDDING_MODEL at it. Without --kind, a DIR whose name contains
// "code" gets a code model and any other DIR a text model, so
// `make-test-model models/breakerbox-mini-text models/breakerbox-mini-code` writes the pair the
// service uses by default. --if-missing leaves a DIR alone when it already holds a model.

import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import {
  testModelExists,
  writeTestModel,
  type TestModelKind,
} from '../dependencies/embeddings/test-model.js';

const USAGE =
  'usage: make-test-model [--if-missing] [--kind text|code] [--seed N] [--dimension N] DIR...';

function integerOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value))
    throw new Error(`--${name} expects a non-negative integer, got ${value}`);
  return Number(value);
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'if-missing': { type: 'boolean', default: false },
        kind: { type: 'string' },
        seed: { type: 'string' },
        dimension: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length === 0) {
    console.error(USAGE);
    return 2;
  }
  if (values.kind !== undefined && values.kind !== 'text' && values.kind !== 'code') {
    console.error(`--kind must be text or code, got ${values.kind}\n${USAGE}`);
    return 2;
  }
  let seed: number | undefined;
  let dimension: number | undefined;
  try {
    seed = integerOption('seed', values.seed);
    dimension = integerOption('dimension', values.dimension);
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  for (const dir of positionals) {
    const kind: TestModelKind =
      (values.kind as TestModelKind | undefined) ??
      (path.basename(path.resolve(dir)).includes('code') ? 'code' : 'text');
    if (values['if-missing'] && testModelExists(dir)) {
      console.log(`make-test-model: ${dir} already holds a model, left as is`);
      continue;
    }
    try {
      const info = await writeTestModel(dir, {
        kind,
        ...(seed === undefined ? {} : { seed }),
        ...(dimension === undefined ? {} : { dimension }),
      });
      console.log(
        `make-test-model: wrote ${info.kind} model to ${dir} (dimension ${info.dimension}, vocabulary ${info.vocabSize}, seed ${info.seed})`,
      );
    } catch (error) {
      console.error(`make-test-model: cannot write ${dir}: ${(error as Error).message}`);
      return 1;
    }
  }
  return 0;
}

if (
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href
) {
  process.exitCode = await main(process.argv.slice(2));
}
