/** A breaker option is out of range; the message names the option. */
export class BreakerConfigError extends Error {
  override readonly name = 'BreakerConfigError';
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`Invalid circuit breaker option '${option}': ${message}`);
  }
}
