import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

/**
 * The invalidation journal: invalidations (DELETEs, and overwrites whose outcome is unknown)
 * that could not be confirmed by Redis, kept on local disk until they are replayed.
 *
 * One entry per key: `{k, t}` where `t` is the wall-clock time (Date.now(), ms) at which the
 * invalidation was answered. Replaying an entry removes the key from Redis only if the stored
 * value was written (by anyone) at or before `t`, by Redis's own clock: a newer write made
 * elsewhere is never deleted, and replaying twice is harmless. That is what lets `done`
 * records be written without an fsync.
 *
 * File: `<dir>/journal.ndjson`, one JSON object a line: `{"k":key,"t":ms}` (an invalidation,
 * fsync'd before the invalidation is answered; appends are group-committed, one fsync for every
 * invalidation made in the same event-loop turn) and `{"d":key,"t":ms}` (replayed up to t).
 * A torn last line (SIGKILL mid-append) is ignored on load. The file is rewritten with only
 * the live entries (tmp file, fsync, rename, fsync of the directory) once it holds more than
 * twice as many lines as live entries plus `compactSlack`.
 *
 * Bounded: at most `maxEntries` keys. `add` of a new key beyond that throws JournalFullError;
 * the caller answers 503 instead of flushing keys nobody touched.
 */

export class JournalFullError extends Error {
  override readonly name = 'JournalFullError';
  constructor(readonly maxEntries: number) {
    super(`the cache invalidation journal is full (${maxEntries} entries)`);
  }
}

export interface JournalOptions {
  /** Directory of this replica's journal (created on the first write); undefined: memory only. */
  dir: string | undefined;
  /** Most keys journaled at once. Default 50 000. */
  maxEntries?: number;
  /** Extra lines tolerated before compaction. Default 1 000. */
  compactSlack?: number;
}

const FILE = 'journal.ndjson';

export class InvalidationJournal {
  readonly dir: string | undefined;
  readonly maxEntries: number;
  private readonly file: string | undefined;
  private readonly compactSlack: number;
  private readonly live = new Map<string, number>();
  private fd: number | undefined;
  private lines = 0;
  private queue: string[] = [];
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private flushScheduled = false;
  private closed = false;
  /** Counters for metrics. */
  readonly counters = { appended: 0, replayed: 0, compactions: 0, rejected: 0, loaded: 0 };

  constructor(options: JournalOptions) {
    this.dir = options.dir;
    this.file = this.dir === undefined ? undefined : join(this.dir, FILE);
    this.maxEntries = Math.max(1, Math.floor(options.maxEntries ?? 50_000));
    this.compactSlack = Math.max(0, Math.floor(options.compactSlack ?? 1_000));
    this.load();
  }

  get size(): number {
    return this.live.size;
  }

  /** The wall-clock time of the key's pending invalidation, or undefined. */
  get(key: string): number | undefined {
    return this.live.get(key);
  }

  has(key: string): boolean {
    return this.live.has(key);
  }

  /** A snapshot of pending entries, oldest first. */
  entries(limit = Infinity): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const entry of this.live) {
      if (out.length >= limit) break;
      out.push(entry);
    }
    return out;
  }

  /**
   * Journals an invalidation of `key` answered at wall time `t` and resolves once it is on
   * disk. A key already journaled keeps one entry (the later time). Throws JournalFullError
   * (synchronously) when a new key would exceed the bound.
   */
  add(key: string, t: number = Date.now()): Promise<void> {
    if (this.closed) return Promise.reject(new Error('journal is closed'));
    const previous = this.live.get(key);
    if (previous === undefined && this.live.size >= this.maxEntries) {
      this.counters.rejected++;
      throw new JournalFullError(this.maxEntries);
    }
    const time = Math.max(previous ?? 0, t);
    this.live.delete(key); // re-insert: insertion order = age of the latest invalidation
    this.live.set(key, time);
    this.counters.appended++;
    this.queue.push(JSON.stringify({ k: key, t: time }));
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.scheduleFlush();
    });
  }

  /**
   * The key's invalidation up to `t` reached Redis (replayed, or superseded by a confirmed
   * DEL/SET). An entry journaled later than `t` stays. Not fsync'd (see the header).
   */
  done(key: string, t: number, replayed: boolean): void {
    const current = this.live.get(key);
    if (current === undefined || current > t) return;
    this.live.delete(key);
    if (replayed) this.counters.replayed++;
    if (this.closed) return;
    this.queue.push(JSON.stringify({ d: key, t }));
    this.scheduleFlush(false);
  }

  /** Writes what is queued now (used by close and tests). */
  flushNow(): void {
    this.flushScheduled = false;
    this.writeQueued(true);
  }

  close(): void {
    if (this.closed) return;
    try {
      this.flushNow();
    } finally {
      this.closed = true;
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = undefined;
    }
  }

  // ------------------------------------------------------------------ internals

  private scheduleFlush(durable = true): void {
    if (this.flushScheduled) return;
    if (!durable && this.waiters.length === 0 && this.queue.length < 256) {
      // Done records alone: batch them a little longer.
      this.flushScheduled = true;
      setTimeout(() => this.flushNow(), 50).unref();
      return;
    }
    this.flushScheduled = true;
    setImmediate(() => this.flushNow());
  }

  private writeQueued(sync: boolean): void {
    const waiters = this.waiters;
    const queue = this.queue;
    this.waiters = [];
    this.queue = [];
    if (queue.length === 0 || this.dir === undefined) {
      for (const w of waiters) w.resolve();
      return;
    }
    try {
      if (this.shouldCompact(queue.length)) {
        this.compact();
      } else {
        const fd = this.open();
        writeSync(fd, `${queue.join('\n')}\n`);
        if (sync) fdatasyncSync(fd);
        this.lines += queue.length;
      }
      for (const w of waiters) w.resolve();
    } catch (error) {
      for (const w of waiters) w.reject(error);
    }
  }

  private shouldCompact(incoming: number): boolean {
    return this.lines + incoming > 2 * this.live.size + this.compactSlack;
  }

  /** Rewrites the file with the live entries only: tmp, fsync, rename, fsync the directory. */
  private compact(): void {
    const dir = this.dir!;
    const file = this.file!;
    mkdirSync(dir, { recursive: true });
    const tmp = `${file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      const lines: string[] = [];
      for (const [k, t] of this.live) lines.push(JSON.stringify({ k, t }));
      if (lines.length > 0) writeSync(fd, `${lines.join('\n')}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    renameSync(tmp, file);
    syncDir(dir);
    this.lines = this.live.size;
    this.counters.compactions++;
  }

  private open(): number {
    if (this.fd === undefined) {
      const dir = this.dir!;
      const file = this.file!;
      const created = !existsSync(file);
      mkdirSync(dir, { recursive: true });
      this.fd = openSync(file, 'a');
      if (created) syncDir(dir);
    }
    return this.fd;
  }

  private load(): void {
    if (this.file === undefined) return;
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return; // no journal yet
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      this.lines++;
      let record: { k?: unknown; d?: unknown; t?: unknown };
      try {
        record = JSON.parse(line) as typeof record;
      } catch {
        continue; // torn write
      }
      if (typeof record.t !== 'number') continue;
      if (typeof record.k === 'string') {
        const previous = this.live.get(record.k) ?? 0;
        this.live.delete(record.k);
        this.live.set(record.k, Math.max(previous, record.t));
      } else if (typeof record.d === 'string') {
        const current = this.live.get(record.d);
        if (current !== undefined && current <= record.t) this.live.delete(record.d);
      }
    }
    this.counters.loaded = this.live.size;
  }
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Not supported on every platform; the rename is still atomic.
  }
}
