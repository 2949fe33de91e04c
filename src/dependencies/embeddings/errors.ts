import type { EmbeddingKind } from './limits.js';

/** Why a model could not be loaded. */
export type ModelLoadFailureReason =
  /** The model directory does not exist (and downloads are off). */
  | 'not_found'
  /** The directory exists but a required file is missing. */
  | 'incomplete'
  /** A model file exists but cannot be parsed (truncated ONNX, broken JSON, ...). */
  | 'corrupt'
  /** The load did not finish within the load timeout. */
  | 'timeout'
  /** Anything else the library reported (download error, unsupported operator, ...). */
  | 'failed';

export interface ModelLoadErrorDetails {
  kind: EmbeddingKind;
  /** The model's name as configured (an id, or a directory's base name). */
  model: string;
  /** The local directory tried, or the hub id when downloading. */
  location: string;
  reason: ModelLoadFailureReason;
  /** What went wrong, in a few words, without the location (that is added). */
  detail: string;
  cause?: unknown;
  /**
   * True for a caller that joined a load attempt another caller started. Such callers get
   * their own error (so a stack or message is never shared) but the breaker counts the
   * attempt once, through the caller that started it: see `isEmbeddingFailure`.
   */
  sharedAttempt?: boolean;
}

/**
 * A model could not be loaded. The message names the model, its location and the cause, e.g.
 * `text model "breakerbox-mini-text" could not be loaded from /srv/models/breakerbox-mini-text:
 * model directory not found`. The HTTP layer answers 503 with it.
 */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
  readonly kind: EmbeddingKind;
  readonly model: string;
  readonly location: string;
  readonly reason: ModelLoadFailureReason;
  readonly detail: string;
  readonly sharedAttempt: boolean;

  constructor(details: ModelLoadErrorDetails) {
    super(
      `${details.kind} model "${details.model}" could not be loaded from ${details.location}: ${details.detail}`,
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    this.kind = details.kind;
    this.model = details.model;
    this.location = details.location;
    this.reason = details.reason;
    this.detail = details.detail;
    this.sharedAttempt = details.sharedAttempt ?? false;
  }

  /** The same failure as seen by a caller that waited on someone else's load attempt. */
  forSharedAttempt(): ModelLoadError {
    return new ModelLoadError({
      kind: this.kind,
      model: this.model,
      location: this.location,
      reason: this.reason,
      detail: this.detail,
      cause: this.cause,
      sharedAttempt: true,
    });
  }
}

/** A loaded model failed while computing embeddings. Counts as a dependency failure. */
export class EmbeddingInferenceError extends Error {
  override readonly name = 'EmbeddingInferenceError';
  readonly kind: EmbeddingKind;
  readonly model: string;

  constructor(kind: EmbeddingKind, model: string, cause: unknown) {
    super(
      `${kind} model "${model}" failed to compute embeddings: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      { cause },
    );
    this.kind = kind;
    this.model = model;
  }
}

/** What is wrong with an embedding request; the HTTP layer answers 4xx with it. */
export type EmbeddingInputProblem =
  'invalid_input' | 'empty_input' | 'too_many_inputs' | 'input_too_long' | 'invalid_kind';

/** A caller's mistake, found before the breaker is asked: never counts as a failure. */
export class EmbeddingInputError extends Error {
  override readonly name = 'EmbeddingInputError';
  readonly problem: EmbeddingInputProblem;

  constructor(problem: EmbeddingInputProblem, message: string) {
    super(message);
    this.problem = problem;
  }
}

/** `embed()` after `close()`. */
export class EmbeddingServiceClosedError extends Error {
  override readonly name = 'EmbeddingServiceClosedError';
  constructor() {
    super('the embedding service is closed');
  }
}

/**
 * The `isFailure` filter for the `embedding_service` breaker. Every error counts except:
 * - a caller that only waited on a load attempt another caller started (that attempt is
 *   counted once, by the caller that started it - so 100 requests waiting on one failed load
 *   are one failure, not 100, and "opens after 3 failed loads" holds under concurrency);
 * - input errors and a closed service (never reach the breaker anyway; listed for safety).
 * Without this filter the service still works; each waiting caller then counts separately.
 */
export function isEmbeddingFailure(error: unknown): boolean {
  if (error instanceof ModelLoadError) return !error.sharedAttempt;
  return !(error instanceof EmbeddingInputError || error instanceof EmbeddingServiceClosedError);
}
