import { EmbeddingInputError } from './errors.js';

export const EMBEDDING_KINDS = ['text', 'code'] as const;
export type EmbeddingKind = (typeof EMBEDDING_KINDS)[number];

/** Most inputs one request may embed. */
export const MAX_EMBEDDING_INPUTS = 64;
/** Longest single input, in UTF-16 code units (`string.length`). */
export const MAX_EMBEDDING_INPUT_CHARS = 8192;

export function isEmbeddingKind(value: unknown): value is EmbeddingKind {
  return value === 'text' || value === 'code';
}

/**
 * Checks a request body's `input` (string or string[]) and `kind` (optional, default 'text')
 * and returns them normalised. Throws EmbeddingInputError naming what is wrong.
 */
export function parseEmbeddingRequest(
  input: unknown,
  kind: unknown = undefined,
): { inputs: string[]; kind: EmbeddingKind } {
  if (kind !== undefined && !isEmbeddingKind(kind)) {
    throw new EmbeddingInputError(
      'invalid_kind',
      `"kind" must be one of ${EMBEDDING_KINDS.map((k) => `"${k}"`).join(', ')}`,
    );
  }
  let inputs: unknown[];
  if (typeof input === 'string') inputs = [input];
  else if (Array.isArray(input)) inputs = input;
  else {
    throw new EmbeddingInputError(
      'invalid_input',
      '"input" must be a string or an array of strings',
    );
  }
  checkEmbeddingInputs(inputs);
  return { inputs: inputs as string[], kind: kind ?? 'text' };
}

/** The checks `embed()` runs before asking the breaker; throws EmbeddingInputError. */
export function checkEmbeddingInputs(inputs: readonly unknown[]): asserts inputs is string[] {
  if (inputs.length === 0) {
    throw new EmbeddingInputError('empty_input', '"input" must contain at least one string');
  }
  if (inputs.length > MAX_EMBEDDING_INPUTS) {
    throw new EmbeddingInputError(
      'too_many_inputs',
      `"input" has ${inputs.length} items; at most ${MAX_EMBEDDING_INPUTS} are allowed per request`,
    );
  }
  for (let i = 0; i < inputs.length; i++) {
    const value = inputs[i];
    if (typeof value !== 'string') {
      throw new EmbeddingInputError('invalid_input', `"input[${i}]" must be a string`);
    }
    if (value.length > MAX_EMBEDDING_INPUT_CHARS) {
      throw new EmbeddingInputError(
        'input_too_long',
        `"input[${i}]" has ${value.length} characters; at most ${MAX_EMBEDDING_INPUT_CHARS} are allowed`,
      );
    }
  }
}
