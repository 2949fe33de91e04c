import autocannon from 'autocannon';
import { Stack, runScript, sleep, prng } from './stack.js';
const mode = process.argv[2] ?? 'mix';
const secs = Number(process.argv[3] ?? 60);
await runScript(async () => {
  const s = await Stack.start({ env: { NODE_OPTIONS: '--trace-gc' } });
  const random = prng(1);
  const t0 = performance.now();
  const done = new Promise<void>((resolve) => autocannon({ url: s.baseUrl, connections: 20, duration: secs, overallRate: 2000, requests: [{ method: 'GET', path: '/v1/cache/a', setupRequest: (req) => {
    const r = random(); const path = `/v1/cache/soak:${Math.floor(random() * 2000)}`;
    if (mode === 'get') return { ...req, method: 'GET', path: `/v1/cache/hot`, body: undefined, headers: {} };
    if (mode === 'miss') return { ...req, method: 'GET', path, body: undefined, headers: {} };
    if (r < 0.7) return { ...req, method: 'GET', path, body: undefined, headers: {} };
    if (r < 0.9) return { ...req, method: 'PUT', path, body: JSON.stringify({ value: { pad: 'p'.repeat(100) }, ttl_seconds: 300 }), headers: { 'content-type': 'application/json' } };
    return { ...req, method: 'DELETE', path, body: undefined, headers: {} };
  } }] }, () => resolve()));
  for (let i = 0; i < secs / 10; i++) {
    await sleep(10_000);
    const mc = s.service.output.split('\n').filter((l) => l.includes('Mark-Compact') || l.includes('Mark-sweep')).at(-1);
    console.log(`${((performance.now() - t0) / 1000).toFixed(0)}s rss ${(s.rssKiB()! / 1024).toFixed(0)} MiB | ${mc?.slice(0, 160)}`);
  }
  await done;
});
