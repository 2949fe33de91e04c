/** A protected call ran past the breaker's `callTimeout`; it was aborted and counted as failed. */
export class CallTimeoutError extends Error {
  override readonly name = 'CallTimeoutError';
  constructor(
    readonly breakerName: string,
    readonly timeoutMs: number,
  ) {
    super(`Call through circuit breaker '${breakerName}' timed out after ${timeoutMs} ms`);
  }
}
