import { Hono } from 'hono';
import { CallTimeoutError, CircuitOpenError } from 'breakerbox';
import type { EmbeddingService } from '../../dependencies/embeddings/embedding-service.js';
import {
  EmbeddingInferenceError,
  EmbeddingInputError,
  ModelLoadError,
} from '../../dependencies/embeddings/errors.js';
import { parseEmbeddingRequest } from '../../dependencies/embeddings/limits.js';
import { clientGoneSignal, readJsonObject } from '../body.js';
import { HttpError } from '../errors.js';

/** `POST /v1/embeddings`, in the shape users know from common embedding APIs. */
export function embeddingRoutes(
  embeddings: EmbeddingService,
  { bodyLimitBytes }: { bodyLimitBytes: number },
): Hono {
  const app = new Hono();

  app.post('/', async (c) => {
    const body = await readJsonObject(c, bodyLimitBytes);
    let request: ReturnType<typeof parseEmbeddingRequest>;
    try {
      request = parseEmbeddingRequest(body.input, body.kind);
    } catch (error) {
      if (error instanceof EmbeddingInputError)
        throw new HttpError(400, error.problem, error.message);
      throw error;
    }
    try {
      const result = await embeddings.embed(request.inputs, request.kind, clientGoneSignal(c));
      return c.json({
        object: 'list',
        model: result.model,
        kind: result.kind,
        dimension: result.dimension,
        data: result.vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })),
        usage: { inputs: request.inputs.length },
      });
    } catch (error) {
      if (error instanceof CircuitOpenError) {
        const retryAfter = error.retryAfterSeconds;
        if (retryAfter !== null) c.header('Retry-After', String(retryAfter));
        return c.json(
          {
            error: 'circuit_open',
            message: `the embedding service is unavailable (circuit ${error.state}); retry later`,
            service: error.breakerName,
            state: error.state,
            retry_after_seconds: retryAfter,
          },
          503,
        );
      }
      if (error instanceof ModelLoadError) {
        throw new HttpError(503, 'model_unavailable', error.message, { reason: error.reason });
      }
      if (error instanceof CallTimeoutError) {
        throw new HttpError(503, 'embedding_timeout', error.message);
      }
      if (error instanceof EmbeddingInferenceError) {
        throw new HttpError(503, 'embedding_failed', error.message);
      }
      throw error;
    }
  });

  return app;
}
