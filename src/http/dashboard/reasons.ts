// Human words for the engine's transition reasons and the admin actions: one table shared by
// the dashboard's feed, its browser client and the demo script.
import type { TransitionReason } from 'breakerbox';

export const REASON_LABELS: Record<TransitionReason, string> = {
  failure_threshold: 'failure threshold reached',
  failure_rate: 'failure rate over the limit',
  slow_call_rate: 'slow-call rate over the limit',
  recovery_timeout: 'recovery timeout elapsed, probing',
  probe_success: 'probe succeeded',
  probe_failure: 'probe failed',
  probe_slow: 'probe was too slow',
  half_open_timeout: 'probe took too long',
  manual_reset: 'reset by an operator',
  manual_open: 'forced open by an operator',
  manual_disable: 'disabled by an operator',
  restored: 'restored from an exported state',
};

/** A reason's words; an unknown reason (a newer engine) is shown as it is. */
export function reasonLabel(reason: string): string {
  return (REASON_LABELS as Record<string, string>)[reason] ?? reason.replace(/_/g, ' ');
}

export const ADMIN_ACTION_LABELS: Record<string, string> = {
  reset: 'admin: reset (closed, counters cleared)',
  open: 'admin: forced open (isolated)',
  disable: 'admin: disabled (always allow, still measured)',
};
