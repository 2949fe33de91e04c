import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { redisErrorKind } from './dependency-health.js';
import { RateLimitedLog } from './rate-limited-log.js';

describe('RateLimitedLog', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const setup = () => {
    const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];
    const log = new RateLimitedLog({
      logger: { warn: (fields, message) => lines.push({ fields, message }) },
      intervalMs: 10_000,
      secrets: ['hunter2', undefined, ''],
    });
    return { lines, log };
  };

  it('writes the first error of a kind at once, then one summary per interval with the count', () => {
    const { lines, log } = setup();
    for (let i = 0; i < 1_000; i++)
      log.report({ dependency: 'redis', kind: 'command:timeout', message: 'Command timed out' });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.fields).toMatchObject({ event: 'dependency_error', kind: 'command:timeout' });
    vi.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(2);
    expect(lines[1]!.fields).toMatchObject({ event: 'dependency_error_summary', count: 999 });
    // Nothing more while it stays quiet; then the kind is forgotten and written at once again.
    vi.advanceTimersByTime(30_000);
    expect(lines).toHaveLength(2);
    log.report({ dependency: 'redis', kind: 'command:timeout', message: 'Command timed out' });
    expect(lines).toHaveLength(3);
    expect(log.counts).toEqual({ emitted: 3, suppressed: 999 });
    log.dispose();
  });

  it('keeps kinds apart', () => {
    const { lines, log } = setup();
    log.report({ dependency: 'redis', kind: 'command:OOM', message: 'OOM command not allowed' });
    log.report({ dependency: 'redis', kind: 'connection:ECONNREFUSED', message: 'refused' });
    log.report({ dependency: 'embeddings', kind: 'model_load:not_found', message: 'missing' });
    expect(lines.map((l) => l.fields.kind)).toEqual([
      'command:OOM',
      'connection:ECONNREFUSED',
      'model_load:not_found',
    ]);
    log.dispose();
  });

  it('never writes a credential', () => {
    const { lines, log } = setup();
    log.report({
      dependency: 'redis',
      kind: 'connection:x',
      message: 'WRONGPASS hunter2 for redis://default:other-secret@10.0.0.1:6379/0',
    });
    expect(lines[0]!.message).not.toMatch(/hunter2|other-secret/);
    expect(lines[0]!.message).toContain('redis://***@10.0.0.1:6379/0');
    log.dispose();
  });
});

describe('redisErrorKind', () => {
  it('names reply errors by their code, socket errors by theirs, and timeouts', () => {
    const reply = Object.assign(
      new Error("OOM command not allowed when used memory > 'maxmemory'."),
      {
        name: 'ReplyError',
      },
    );
    expect(redisErrorKind(reply)).toBe('OOM');
    expect(redisErrorKind(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }))).toBe(
      'ECONNREFUSED',
    );
    expect(redisErrorKind(new Error('Command timed out'))).toBe('timeout');
    expect(
      redisErrorKind(new Error("Stream isn't writeable and enableOfflineQueue options is false")),
    ).toBe('not_connected');
    expect(redisErrorKind(new TypeError('x'))).toBe('TypeError');
  });
});
