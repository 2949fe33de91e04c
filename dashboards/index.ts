/**
 * Every dashboard of the stack, by the file it is generated to under grafana/dashboards.
 * dashboards/generate.ts writes them; test/stack/dashboards.test.ts checks the committed JSON.
 */
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { circuitBreakersDashboard } from './circuit-breakers.js';

export interface DashboardSource {
  /** File name under grafana/dashboards. */
  file: string;
  build: () => Dashboard;
}

export const DASHBOARDS: readonly DashboardSource[] = [
  { file: 'circuit-breakers.json', build: circuitBreakersDashboard },
];

/** The committed form: 2-space JSON with a final newline (prettier leaves these files alone). */
export function renderDashboard(dashboard: Dashboard): string {
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}
