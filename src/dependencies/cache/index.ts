export * from './cascade-cache.js';
export * from './l1-cache.js';
export * from './redis-client.js';
export * from './redis-store.js';
export * from './journal.js';
export * from './tracking.js';
