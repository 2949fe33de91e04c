/** The three states of the contract, as their wire values. */
export const CircuitState = {
  Closed: 'closed',
  Open: 'open',
  HalfOpen: 'half_open',
} as const;
export type CircuitState = (typeof CircuitState)[keyof typeof CircuitState];

export const CIRCUIT_STATES: readonly CircuitState[] = [
  CircuitState.Closed,
  CircuitState.Open,
  CircuitState.HalfOpen,
];

/**
 * How the breaker is being driven. `isolated` (forced open) rejects everything until reset;
 * `disabled` lets everything through and still measures, but never trips.
 */
export type BreakerMode = 'normal' | 'isolated' | 'disabled';

/** Why a transition happened; carried on events, logs and span events. */
export type TransitionReason =
  | 'failure_threshold'
  | 'failure_rate'
  | 'slow_call_rate'
  | 'recovery_timeout'
  | 'probe_success'
  | 'probe_failure'
  | 'probe_slow'
  | 'half_open_timeout'
  | 'manual_reset'
  | 'manual_open'
  | 'manual_disable'
  /** Started from an exported state (`initialState`); not counted as a transition. */
  | 'restored';

/** Each state carries only its own data (cockatiel's discriminated union). */
export type StateData =
  | { readonly kind: typeof CircuitState.Closed }
  | {
      readonly kind: typeof CircuitState.Open;
      readonly openedAt: number;
      /** Monotonic time at which a probe may go through; Infinity while isolated. */
      readonly retryAt: number;
    }
  | {
      readonly kind: typeof CircuitState.HalfOpen;
      readonly enteredAt: number;
      /** Past this monotonic time, unfinished probes count as failed and the circuit reopens. */
      readonly deadline: number;
      /** Probes admitted so far; never exceeds halfOpenMaxCalls. */
      admitted: number;
      succeeded: number;
    };

/**
 * The explicit whitelist of automatic transitions (Resilience4j's state machine).
 * Manual control (reset, isolate, disable) may move from any state and is checked apart.
 * `StateMachine.transition` is the only code that changes state, and it checks this first.
 */
export const ALLOWED_TRANSITIONS: Readonly<Record<CircuitState, readonly CircuitState[]>> = {
  closed: [CircuitState.Open],
  open: [CircuitState.HalfOpen],
  half_open: [CircuitState.Closed, CircuitState.Open],
};

const MANUAL_REASONS: ReadonlySet<TransitionReason> = new Set([
  'manual_reset',
  'manual_open',
  'manual_disable',
  'restored',
]);

export function isAllowedTransition(
  from: CircuitState,
  to: CircuitState,
  reason: TransitionReason,
): boolean {
  if (from === to) return false;
  return MANUAL_REASONS.has(reason) || ALLOWED_TRANSITIONS[from].includes(to);
}
