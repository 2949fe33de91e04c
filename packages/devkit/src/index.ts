// What tests, benchmarks and the demo share. Everything here runs on 127.0.0.1 only.
export * from './build.js';
export * from './fault-proxy.js';
export * from './ports.js';
export * from './redis-cluster.js';
export * from './redis-server.js';
export * from './remote-proxy.js';
export * from './root.js';
export * from './service-process.js';
export * from './signals.js';
export * from './wait.js';
