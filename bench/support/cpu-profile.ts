import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

export interface ProfileEntry {
  /** Share of all samples whose top frame is this function. */
  selfShare: number;
  name: string;
  where: string;
}

/** Every sampled node of every `.cpuprofile` under `dir`, with its self-time hit count. */
function* sampledNodes(dir: string): Generator<{ node: ProfileNode; hits: number }> {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { nodes: ProfileNode[] };
    for (const node of profile.nodes) {
      const hits = node.hitCount ?? 0;
      if (hits > 0) yield { node, hits };
    }
  }
}

/** The functions with the most self time in every `.cpuprofile` under `dir`, merged. */
export function topSelfTime(dir: string, root: string, count = 15): ProfileEntry[] {
  const self = new Map<string, { hits: number; name: string; where: string }>();
  let total = 0;
  for (const { node, hits } of sampledNodes(dir)) {
    total += hits;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName === '' ? '(anonymous)' : functionName;
    const path = url.startsWith('file://') ? relative(root, url.slice(7)) : url || '(native)';
    const where = `${path}:${lineNumber + 1}`;
    const key = `${name} ${where}`;
    const entry = self.get(key) ?? { hits: 0, name, where };
    entry.hits += hits;
    self.set(key, entry);
  }
  return [...self.values()]
    .sort((a, b) => b.hits - a.hits)
    .slice(0, count)
    .map((e) => ({ selfShare: total === 0 ? 0 : e.hits / total, name: e.name, where: e.where }));
}

/**
 * Self time grouped by where the code lives: the service's own code, the library, Hono,
 * ioredis, OpenTelemetry, pino, Node's internals, the garbage collector and the rest.
 */
export function selfTimeByArea(dir: string): Record<string, number> {
  const areas: Record<string, number> = {};
  let total = 0;
  for (const { node, hits } of sampledNodes(dir)) {
    total += hits;
    const area = areaOf(node.callFrame.url, node.callFrame.functionName);
    areas[area] = (areas[area] ?? 0) + hits;
  }
  for (const key of Object.keys(areas)) areas[key] = areas[key]! / Math.max(1, total);
  return areas;
}

function areaOf(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'gc';
  if (fn === '(idle)' || fn === '(program)') return fn;
  if (url.includes('/packages/breakerbox/')) return 'breakerbox library';
  if (url.includes('/node_modules/@opentelemetry/')) return 'opentelemetry';
  if (url.includes('/node_modules/hono/') || url.includes('/node_modules/@hono/')) return 'hono';
  if (url.includes('/node_modules/ioredis/') || url.includes('/node_modules/redis-parser/'))
    return 'ioredis';
  if (url.includes('/node_modules/pino')) return 'pino';
  if (url.includes('/node_modules/lru-cache/')) return 'lru-cache';
  if (url.includes('/node_modules/')) return 'other packages';
  if (url.includes('/dist/')) return 'service code';
  if (url.startsWith('node:') || url === '') return 'node internals';
  return 'other';
}
