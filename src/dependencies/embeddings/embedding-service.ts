// Text and code embeddings behind ONE circuit breaker (`embedding_service`).
//
// Every call is `breaker.execute(ensure loaded + infer)`, so every admitted call reports exactly
// one outcome: a HALF_OPEN probe that finds the model already loaded still reports its success
// (returning early there, before the breaker hears back, would leave the probe slot taken and
// wedge the breaker in HALF_OPEN). While the breaker is open, embed()
// rejects at once with CircuitOpenError and never waits on a load.
//
// Loading is single-flight per model: concurrent callers share one attempt. An attempt has a
// time limit (a timed-out attempt is a failure; if the library finishes later, that pipeline is
// disposed). A failed attempt is dropped, so the next call the breaker admits starts a new one:
// there is no "attempted" flag and so no fail-forever.
//
// Build the breaker with `isFailure: isEmbeddingFailure` so that callers who only waited on
// someone else's failed attempt are not counted again (one failed load = one failure).

import type { CircuitBreaker, Clock, RetryOptions } from 'breakerbox';
import { CircuitOpenError, RetryPolicy } from 'breakerbox';
import {
  EmbeddingInferenceError,
  EmbeddingInputError,
  EmbeddingServiceClosedError,
  ModelLoadError,
} from './errors.js';
import { checkEmbeddingInputs, isEmbeddingKind, type EmbeddingKind } from './limits.js';
import {
  loadPipeline,
  resolveModelSpec,
  type EmbeddingPipeline,
  type ModelLoader,
  type ModelSpec,
} from './model-loader.js';

export const DEFAULT_MODELS_DIR = 'models';
export const DEFAULT_TEXT_MODEL = 'breakerbox-mini-text';
export const DEFAULT_CODE_MODEL = 'breakerbox-mini-code';
export const DEFAULT_LOAD_TIMEOUT_MS = 60_000;

export interface EmbeddingResult {
  /** The model's name: its id, or its directory's base name. */
  model: string;
  kind: EmbeddingKind;
  dimension: number;
  /** One L2-normalised, mean-pooled vector per input, in input order. */
  vectors: number[][];
}

/** One embed() call, for telemetry (`breakerbox.embedding.duration{kind}`). */
export interface EmbedEvent {
  kind: EmbeddingKind;
  inputs: number;
  /** Milliseconds from the call to its end, load time included when the call waited on one. */
  durationMs: number;
  outcome: 'success' | 'failure' | 'rejected';
  error?: unknown;
}

/** One load attempt. */
export interface LoadEvent {
  kind: EmbeddingKind;
  model: string;
  location: string;
  durationMs: number;
  outcome: 'success' | 'failure';
  error?: ModelLoadError;
}

export interface KindStats {
  model: string;
  loaded: boolean;
  loading: boolean;
  calls: { success: number; failure: number; rejected: number };
  inputs: number;
  /** Sum of successful calls' durations, ms. */
  durationMsTotal: number;
  loads: { started: number; succeeded: number; failed: number };
  lastLoadError: { reason: ModelLoadError['reason']; message: string } | null;
}

export interface EmbeddingServiceOptions {
  /** The `embedding_service` breaker; the composition root builds it (see isEmbeddingFailure). */
  breaker: CircuitBreaker;
  /** Configured models: directories or ids (defaults breakerbox-mini-text / -code). */
  textModel?: string;
  codeModel?: string;
  /** Where model ids are looked up, and downloads are stored (default `models`). */
  modelsDir?: string;
  /** Allow downloads from the Hugging Face hub (default false: offline). */
  allowDownload?: boolean;
  /** Load onnx/model_quantized.onnx (default true, as the library) or onnx/model.onnx. */
  quantized?: boolean;
  /** Time limit for one load attempt, ms (default 60 000). */
  loadTimeoutMs?: number;
  /** Replaces the real loader (tests wrap `loadPipeline` to count or slow down loads). */
  loader?: ModelLoader;
  /** Monotonic ms for durations (default performance.now). */
  clock?: Clock;
  onEmbed?: (event: EmbedEvent) => void;
  onLoad?: (event: LoadEvent) => void;
  /**
   * How warmUp() retries a load that failed transiently (reason `timeout` or `failed`; a
   * missing, incomplete or corrupt model is not retried). Default: 3 attempts, full-jitter
   * backoff from 1 s to 10 s. `false`: one attempt. Each attempt is one breaker call, and an
   * open breaker ends it at once. Request-path loads (embed) are never retried: a caller
   * gets its answer, or a fast 503, instead of waiting out backoff.
   */
  warmUpRetry?: Omit<RetryOptions, 'breaker' | 'isRetryable'> | false;
}

/** A load failure worth another attempt: the loader timed out or failed for an unknown reason. */
export function isTransientLoadError(error: unknown): boolean {
  return (
    error instanceof ModelLoadError && (error.reason === 'timeout' || error.reason === 'failed')
  );
}

interface LoadedModel {
  spec: ModelSpec;
  pipeline: EmbeddingPipeline;
}

interface Slot {
  configured: string;
  model: LoadedModel | undefined;
  loading: Promise<LoadedModel> | undefined;
  stats: KindStats;
}

const perfClock: Clock = { now: () => performance.now() };

export class EmbeddingService {
  readonly breaker: CircuitBreaker;
  private readonly slots: Record<EmbeddingKind, Slot>;
  private readonly modelsDir: string;
  private readonly allowDownload: boolean;
  private readonly quantized: boolean;
  private readonly loadTimeoutMs: number;
  private readonly loader: ModelLoader;
  private readonly clock: Clock;
  private readonly onEmbed: ((event: EmbedEvent) => void) | undefined;
  private readonly onLoad: ((event: LoadEvent) => void) | undefined;
  private readonly warmUpRetry: RetryPolicy;
  private closed = false;

  constructor(options: EmbeddingServiceOptions) {
    this.breaker = options.breaker;
    this.modelsDir = options.modelsDir ?? DEFAULT_MODELS_DIR;
    this.allowDownload = options.allowDownload ?? false;
    this.quantized = options.quantized ?? true;
    this.loadTimeoutMs = options.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS;
    if (!(this.loadTimeoutMs > 0)) {
      throw new RangeError(`loadTimeoutMs must be > 0, got ${String(options.loadTimeoutMs)}`);
    }
    this.loader = options.loader ?? loadPipeline;
    this.clock = options.clock ?? perfClock;
    this.onEmbed = options.onEmbed;
    this.onLoad = options.onLoad;
    this.warmUpRetry = new RetryPolicy({
      name: 'embedding_model_load',
      maxAttempts: 3,
      backoff: { initialDelay: 1_000, maxDelay: 10_000, jitter: 'full' },
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.warmUpRetry === false ? { maxAttempts: 1 } : options.warmUpRetry),
      breaker: this.breaker,
      isRetryable: (error) => !this.closed && isTransientLoadError(error),
    });
    this.slots = {
      text: newSlot(options.textModel ?? DEFAULT_TEXT_MODEL),
      code: newSlot(options.codeModel ?? DEFAULT_CODE_MODEL),
    };
  }

  /**
   * Embeds `inputs` with the `kind` model. Rejects with EmbeddingInputError (bad input; not
   * counted), CircuitOpenError (breaker open; immediate), ModelLoadError (the model could not be
   * loaded), EmbeddingInferenceError, or the breaker's CallTimeoutError.
   */
  async embed(
    inputs: readonly string[],
    kind: EmbeddingKind = 'text',
    signal?: AbortSignal,
  ): Promise<EmbeddingResult> {
    if (!Array.isArray(inputs)) {
      throw new EmbeddingInputError('invalid_input', 'inputs must be an array of strings');
    }
    checkEmbeddingInputs(inputs);
    if (!isEmbeddingKind(kind)) {
      throw new EmbeddingInputError('invalid_kind', `unknown embedding kind: ${String(kind)}`);
    }
    const slot = this.slots[kind];
    if (this.closed) throw new EmbeddingServiceClosedError();
    const start = this.clock.now();
    try {
      const result = await this.breaker.execute(
        async (ctx) => this.infer(kind, await this.ensureLoaded(kind, ctx.signal), inputs),
        signal,
      );
      const durationMs = this.clock.now() - start;
      slot.stats.calls.success++;
      slot.stats.inputs += inputs.length;
      slot.stats.durationMsTotal += durationMs;
      this.emitEmbed({ kind, inputs: inputs.length, durationMs, outcome: 'success' });
      return result;
    } catch (error) {
      const outcome = error instanceof CircuitOpenError ? 'rejected' : 'failure';
      slot.stats.calls[outcome]++;
      this.emitEmbed({
        kind,
        inputs: inputs.length,
        durationMs: this.clock.now() - start,
        outcome,
        error,
      });
      throw error;
    }
  }

  /**
   * Loads a model ahead of the first request (e.g. at start-up), through the breaker like any
   * call, retrying transient load failures (see `warmUpRetry`). Resolves false instead of
   * rejecting, so it can be fired and forgotten.
   */
  async warmUp(kind: EmbeddingKind, signal?: AbortSignal): Promise<boolean> {
    if (this.closed) return false;
    try {
      await this.warmUpRetry.execute(async (ctx) => {
        await this.ensureLoaded(kind, ctx.signal);
      }, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** Per-kind counters and model state, for health and telemetry. */
  stats(): Record<EmbeddingKind, KindStats> {
    const copy = (slot: Slot): KindStats => ({
      ...slot.stats,
      model: slot.model?.spec.name ?? slot.stats.model,
      loaded: slot.model !== undefined,
      loading: slot.loading !== undefined,
      calls: { ...slot.stats.calls },
      loads: { ...slot.stats.loads },
    });
    return { text: copy(this.slots.text), code: copy(this.slots.code) };
  }

  /** Releases both models; later embed() calls reject with EmbeddingServiceClosedError. */
  async close(): Promise<void> {
    this.closed = true;
    const pending: Promise<unknown>[] = [];
    for (const slot of Object.values(this.slots)) {
      const model = slot.model;
      slot.model = undefined;
      if (model !== undefined) pending.push(disposeQuietly(model.pipeline));
      // A load still in flight disposes its own result when it lands (see startLoad).
      if (slot.loading !== undefined) pending.push(slot.loading.catch(() => undefined));
    }
    await Promise.all(pending);
  }

  // ------------------------------------------------------------------------------------------

  private ensureLoaded(kind: EmbeddingKind, signal: AbortSignal): Promise<LoadedModel> {
    const slot = this.slots[kind];
    if (slot.model !== undefined) return Promise.resolve(slot.model);
    if (this.closed) return Promise.reject(new EmbeddingServiceClosedError());
    let attempt = slot.loading;
    const shared = attempt !== undefined;
    if (attempt === undefined) attempt = this.startLoad(kind, slot);
    const joined = shared
      ? attempt.catch((error: unknown) => {
          throw error instanceof ModelLoadError ? error.forSharedAttempt() : error;
        })
      : attempt;
    return abortable(joined, signal);
  }

  private startLoad(kind: EmbeddingKind, slot: Slot): Promise<LoadedModel> {
    slot.stats.loads.started++;
    const start = this.clock.now();
    let spec: ModelSpec | undefined;
    const attempt = (async (): Promise<LoadedModel> => {
      try {
        spec = await resolveModelSpec(kind, slot.configured, {
          modelsDir: this.modelsDir,
          allowDownload: this.allowDownload,
          quantized: this.quantized,
        });
        const resolved = spec;
        const pipeline = await withTimeout(
          this.loader(resolved),
          this.loadTimeoutMs,
          () =>
            new ModelLoadError({
              kind,
              model: resolved.name,
              location: resolved.location,
              reason: 'timeout',
              detail: `load timed out after ${this.loadTimeoutMs} ms`,
            }),
        );
        return { spec: resolved, pipeline };
      } catch (error) {
        if (error instanceof ModelLoadError) throw error;
        throw new ModelLoadError({
          kind,
          model: spec?.name ?? slot.configured,
          location: spec?.location ?? slot.configured,
          reason: 'failed',
          detail: error instanceof Error ? error.message : String(error),
          cause: error,
        });
      }
    })();
    slot.loading = attempt;
    attempt.then(
      (model) => {
        if (slot.loading === attempt) slot.loading = undefined;
        slot.stats.loads.succeeded++;
        slot.stats.lastLoadError = null;
        this.emitLoad(kind, model.spec, start, undefined);
        if (this.closed) void disposeQuietly(model.pipeline);
        else slot.model = model;
      },
      (error: ModelLoadError) => {
        // Drop the failed attempt: the next admitted call starts a fresh one (no fail-forever).
        if (slot.loading === attempt) slot.loading = undefined;
        slot.stats.loads.failed++;
        slot.stats.lastLoadError = { reason: error.reason, message: error.message };
        this.emitLoad(kind, spec, start, error);
      },
    );
    return attempt;
  }

  private async infer(
    kind: EmbeddingKind,
    model: LoadedModel,
    inputs: readonly string[],
  ): Promise<EmbeddingResult> {
    let output: { dims: number[]; data: ArrayLike<number> };
    try {
      output = await model.pipeline.embed([...inputs]);
    } catch (error) {
      throw new EmbeddingInferenceError(kind, model.spec.name, error);
    }
    const [rows, dimension] = output.dims;
    if (
      rows !== inputs.length ||
      dimension === undefined ||
      output.data.length !== rows * dimension
    ) {
      throw new EmbeddingInferenceError(
        kind,
        model.spec.name,
        new Error(
          `unexpected output shape [${output.dims.join(', ')}] for ${inputs.length} inputs`,
        ),
      );
    }
    const vectors: number[][] = [];
    for (let r = 0; r < rows; r++) {
      const row = new Array<number>(dimension);
      for (let c = 0; c < dimension; c++) row[c] = output.data[r * dimension + c]!;
      vectors.push(row);
    }
    return { model: model.spec.name, kind, dimension, vectors };
  }

  private emitEmbed(event: EmbedEvent): void {
    if (this.onEmbed === undefined) return;
    try {
      this.onEmbed(event);
    } catch {
      // A telemetry hook must never break a request.
    }
  }

  private emitLoad(
    kind: EmbeddingKind,
    spec: ModelSpec | undefined,
    start: number,
    error: ModelLoadError | undefined,
  ): void {
    if (this.onLoad === undefined) return;
    try {
      this.onLoad({
        kind,
        model: spec?.name ?? this.slots[kind].configured,
        location: spec?.location ?? this.slots[kind].configured,
        durationMs: this.clock.now() - start,
        outcome: error === undefined ? 'success' : 'failure',
        ...(error === undefined ? {} : { error }),
      });
    } catch {
      // ignore
    }
  }
}

function newSlot(configured: string): Slot {
  return {
    configured,
    model: undefined,
    loading: undefined,
    stats: {
      model: configured,
      loaded: false,
      loading: false,
      calls: { success: 0, failure: 0, rejected: 0 },
      inputs: 0,
      durationMsTotal: 0,
      loads: { started: 0, succeeded: 0, failed: 0 },
      lastLoadError: null,
    },
  };
}

async function disposeQuietly(pipeline: EmbeddingPipeline): Promise<void> {
  try {
    await pipeline.dispose();
  } catch {
    // Already gone.
  }
}

/**
 * Resolves or rejects like `promise`, or rejects with `onTimeout()` after `ms`. A pipeline that
 * arrives after the timeout is disposed, not leaked.
 */
function withTimeout(
  promise: Promise<EmbeddingPipeline>,
  ms: number,
  onTimeout: () => Error,
): Promise<EmbeddingPipeline> {
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(onTimeout());
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        if (timedOut) void disposeQuietly(value);
        else resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * Callbacks waiting on each signal, behind ONE listener per signal: many callers may share a
 * signal (the breaker hands every call without a timeout the same never-aborting one), and a
 * listener each would trip Node's MaxListeners warning.
 */
const abortWaiters = new WeakMap<AbortSignal, Set<() => void>>();

function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let waiters = abortWaiters.get(signal);
  if (waiters === undefined) {
    const set = new Set<() => void>();
    waiters = set;
    abortWaiters.set(signal, set);
    signal.addEventListener(
      'abort',
      () => {
        abortWaiters.delete(signal);
        for (const waiter of set) waiter();
      },
      { once: true },
    );
  }
  waiters.add(callback);
  const set = waiters;
  return () => set.delete(callback);
}

/** Stops waiting (not the shared work) when the caller's signal aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const remove = onAbort(signal, () => reject(abortReason(signal)));
    promise.then(
      (value) => {
        remove();
        resolve(value);
      },
      (error: unknown) => {
        remove();
        reject(error);
      },
    );
  });
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}
