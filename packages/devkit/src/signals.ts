/**
 * Runs `stop` once on the first SIGINT/SIGTERM and exits 0 when it settles; a second signal
 * calls `hurry` (kill children now) instead of waiting. Returns a function that removes the
 * handlers.
 */
export function onStopSignals(
  stop: (signal: NodeJS.Signals) => Promise<void>,
  hurry?: (signal: NodeJS.Signals) => void,
): () => void {
  let signals = 0;
  const handler = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      hurry?.(signal);
      return;
    }
    void stop(signal).finally(() => process.exit(0));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
