// The embedding service: text and code models behind one `embedding_service` breaker.
export {
  EmbeddingService,
  isTransientLoadError,
  DEFAULT_CODE_MODEL,
  DEFAULT_LOAD_TIMEOUT_MS,
  DEFAULT_MODELS_DIR,
  DEFAULT_TEXT_MODEL,
  type EmbedEvent,
  type EmbeddingResult,
  type EmbeddingServiceOptions,
  type KindStats,
  type LoadEvent,
} from './embedding-service.js';
export {
  EmbeddingInferenceError,
  EmbeddingInputError,
  EmbeddingServiceClosedError,
  ModelLoadError,
  isEmbeddingFailure,
  type EmbeddingInputProblem,
  type ModelLoadFailureReason,
} from './errors.js';
export {
  EMBEDDING_KINDS,
  MAX_EMBEDDING_INPUTS,
  MAX_EMBEDDING_INPUT_CHARS,
  checkEmbeddingInputs,
  isEmbeddingKind,
  parseEmbeddingRequest,
  type EmbeddingKind,
} from './limits.js';
export {
  checkModelDirectory,
  checkOnnxStructure,
  loadPipeline,
  meanPoolNormalize,
  modelFileName,
  resolveModelSpec,
  type EmbeddingPipeline,
  type ModelLoader,
  type ModelSpec,
} from './model-loader.js';
export {
  DEFAULT_SEEDS,
  TEST_MODEL_FILES,
  testModelExists,
  writeTestModel,
  type TestModelInfo,
  type TestModelKind,
  type TestModelOptions,
} from './test-model.js';
