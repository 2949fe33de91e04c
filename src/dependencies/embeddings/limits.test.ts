import { describe, expect, it } from 'vitest';
import { EmbeddingInputError } from './errors.js';
import {
  MAX_EMBEDDING_INPUTS,
  MAX_EMBEDDING_INPUT_CHARS,
  isEmbeddingKind,
  parseEmbeddingRequest,
} from './limits.js';

function problem(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(EmbeddingInputError);
    return (error as EmbeddingInputError).problem;
  }
  return undefined;
}

describe('parseEmbeddingRequest', () => {
  it('accepts a string or an array of strings; kind defaults to text', () => {
    expect(parseEmbeddingRequest('hi')).toEqual({ inputs: ['hi'], kind: 'text' });
    expect(parseEmbeddingRequest(['a', ''], 'code')).toEqual({ inputs: ['a', ''], kind: 'code' });
    expect(parseEmbeddingRequest(['x'.repeat(MAX_EMBEDDING_INPUT_CHARS)]).inputs).toHaveLength(1);
    expect(parseEmbeddingRequest(Array(MAX_EMBEDDING_INPUTS).fill('x')).inputs).toHaveLength(64);
  });

  it('names what is wrong', () => {
    expect(problem(() => parseEmbeddingRequest(undefined))).toBe('invalid_input');
    expect(problem(() => parseEmbeddingRequest(42))).toBe('invalid_input');
    expect(problem(() => parseEmbeddingRequest({ text: 'x' }))).toBe('invalid_input');
    expect(problem(() => parseEmbeddingRequest(['ok', 3]))).toBe('invalid_input');
    expect(problem(() => parseEmbeddingRequest([]))).toBe('empty_input');
    expect(problem(() => parseEmbeddingRequest(Array(65).fill('x')))).toBe('too_many_inputs');
    expect(problem(() => parseEmbeddingRequest(['x'.repeat(8193)]))).toBe('input_too_long');
    expect(problem(() => parseEmbeddingRequest('x', 'image'))).toBe('invalid_kind');
    expect(problem(() => parseEmbeddingRequest('x', null))).toBe('invalid_kind');
    expect(() => parseEmbeddingRequest(['a', 7])).toThrow('"input[1]" must be a string');
    expect(() => parseEmbeddingRequest(['a', 'x'.repeat(9000)])).toThrow(
      '"input[1]" has 9000 characters; at most 8192 are allowed',
    );
  });

  it('isEmbeddingKind', () => {
    expect(isEmbeddingKind('text')).toBe(true);
    expect(isEmbeddingKind('code')).toBe(true);
    expect(isEmbeddingKind('toString')).toBe(false);
    expect(isEmbeddingKind(undefined)).toBe(false);
  });
});
