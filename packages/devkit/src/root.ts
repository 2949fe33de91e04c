import { fileURLToPath } from 'node:url';

/** The repository root: the service package, where `npm start` runs. */
export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
