/**
 * Stands for a resolved value that `isFailureResult` classed as a failure, wherever a
 * failure's error is reported (`lastFailure`, events, `last_failure`). The caller still
 * receives the value itself.
 */
export class FailureResultError extends Error {
  override readonly name = 'FailureResultError';
  constructor(readonly result: unknown) {
    super('the call resolved with a result that isFailureResult counts as a failure');
  }
}
