/* global process, setInterval */
// Preloaded into the service by bench/soak.ts (NODE_OPTIONS=--import=<this file>). Every
// BREAKERBOX_HEAP_PROBE_MS (default 10000) it writes one line to stderr:
//
//   BREAKERBOX_HEAP_PROBE {"t":..,"rss":..,"heapUsed":..,"heapTotal":..,"majorGcs":..,"forced":..}
//
// (MiB). With BREAKERBOX_HEAP_PROBE_GC=1 it first forces a full garbage collection, so heapUsed
// is the live heap: the number that shows a leak. Without it, RSS and heapUsed mostly show how
// lazily V8 collects (its old-space limit on a large machine is several GiB, and under steady
// load it lets garbage pile up to hundreds of MiB between major collections).
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const MiB = 1024 * 1024;
const started = Date.now();
const force = process.env.BREAKERBOX_HEAP_PROBE_GC === '1';
let gc;
if (force) {
  setFlagsFromString('--expose-gc');
  gc = runInNewContext('gc');
}
let majorGcs = 0;

const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majorGcs++;
  }
});
observer.observe({ entryTypes: ['gc'] });

const interval = Number(process.env.BREAKERBOX_HEAP_PROBE_MS ?? 10000);
setInterval(() => {
  gc?.();
  const m = process.memoryUsage();
  const line = {
    at: Date.now(),
    t: (Date.now() - started) / 1000,
    rss: m.rss / MiB,
    heapUsed: m.heapUsed / MiB,
    heapTotal: m.heapTotal / MiB,
    majorGcs,
    forced: force,
  };
  process.stderr.write(`BREAKERBOX_HEAP_PROBE ${JSON.stringify(line)}\n`);
}, interval).unref();
