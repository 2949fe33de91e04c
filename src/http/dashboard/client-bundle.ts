// The dashboard's browser code is TypeScript (./client/main.ts) compiled by esbuild during
// `npm run build` into dist/http/dashboard/dashboard-client.js; the page inlines it under its
// nonce. Running from dist/ the bundle sits beside this module; running from src/ (tests
// through vitest) it is read from dist/, which the global setup builds first.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CLIENT_BUNDLE = 'dashboard-client.js';

const CANDIDATES = [
  new URL(`./${CLIENT_BUNDLE}`, import.meta.url),
  new URL(`../../../dist/http/dashboard/${CLIENT_BUNDLE}`, import.meta.url),
];

let cached: string | undefined;

/** The compiled client script (read once), or a stub that says what is missing. */
export function clientScript(): string {
  if (cached !== undefined) return cached;
  for (const url of CANDIDATES) {
    const path = fileURLToPath(url);
    if (existsSync(path)) return (cached = readFileSync(path, 'utf8'));
  }
  return "document.getElementById('bb-summary').textContent = 'The dashboard script is not built: run npm run build.';";
}
