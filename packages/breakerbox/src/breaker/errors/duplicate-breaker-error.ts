/** Two breakers registered under one name: an error, never a silent overwrite. */
export class DuplicateBreakerError extends Error {
  override readonly name = 'DuplicateBreakerError';
  constructor(readonly breakerName: string) {
    super(`A circuit breaker named '${breakerName}' is already registered`);
  }
}
