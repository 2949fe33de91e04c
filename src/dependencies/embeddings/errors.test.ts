import { describe, expect, it } from 'vitest';
import { CallTimeoutError } from 'breakerbox';
import {
  EmbeddingInferenceError,
  EmbeddingInputError,
  EmbeddingServiceClosedError,
  ModelLoadError,
  isEmbeddingFailure,
} from './errors.js';

describe('embedding errors', () => {
  const load = new ModelLoadError({
    kind: 'code',
    model: 'mini',
    location: '/srv/models/mini',
    reason: 'corrupt',
    detail: 'corrupt model file onnx/model_quantized.onnx (truncated)',
    cause: new Error('x'),
  });

  it('ModelLoadError names the model, its location and the cause', () => {
    expect(load.message).toBe(
      'code model "mini" could not be loaded from /srv/models/mini: corrupt model file onnx/model_quantized.onnx (truncated)',
    );
    expect(load).toMatchObject({ name: 'ModelLoadError', reason: 'corrupt', sharedAttempt: false });
    const shared = load.forSharedAttempt();
    expect(shared).not.toBe(load);
    expect(shared).toMatchObject({ message: load.message, sharedAttempt: true, cause: load.cause });
  });

  it('isEmbeddingFailure counts dependency failures once', () => {
    expect(isEmbeddingFailure(load)).toBe(true);
    expect(isEmbeddingFailure(load.forSharedAttempt())).toBe(false);
    expect(isEmbeddingFailure(new EmbeddingInferenceError('text', 'm', new Error('boom')))).toBe(
      true,
    );
    expect(isEmbeddingFailure(new CallTimeoutError('embedding_service', 10))).toBe(true);
    expect(isEmbeddingFailure(new Error('anything'))).toBe(true);
    expect(isEmbeddingFailure(new EmbeddingInputError('empty_input', 'x'))).toBe(false);
    expect(isEmbeddingFailure(new EmbeddingServiceClosedError())).toBe(false);
  });

  it('EmbeddingInferenceError carries a non-Error cause too', () => {
    expect(new EmbeddingInferenceError('text', 'm', 'weird').message).toContain('weird');
  });
});
