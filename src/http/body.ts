import { IncomingMessage, type ServerResponse } from 'node:http';
import type { Context } from 'hono';
import { HttpError } from './errors.js';

/**
 * Request bodies, read without the web `Request` (and its `AbortSignal`) that
 * @hono/node-server builds the first time anything touches `c.req.raw.body`, `.signal` or
 * `.text()`: under a write-heavy load those signals are garbage that outlives the young
 * generation and swelled the heap to 200 MB. On the Node server the body is read straight
 * from the `IncomingMessage`; under `app.request()` (tests) from the web request.
 *
 * - At most `limit` bytes: a declared `Content-Length` over the limit is refused before a byte
 *   is read, a chunked body as soon as it passes the limit. Both answer 413.
 * - The bytes must be UTF-8 (decoded with `fatal: true`; nothing is replaced with U+FFFD).
 * - JSON bodies may nest arrays and objects at most MAX_JSON_DEPTH deep (checked by an
 *   iterative scan of the text before `JSON.parse`, so neither parsing nor the later
 *   `JSON.stringify` can overflow the stack).
 */

/** The deepest nesting of arrays and objects a JSON body may have (the body itself is 1). */
export const MAX_JSON_DEPTH = 64;

/**
 * After a 413 the rest of the body is still read and thrown away, for up to this many bytes
 * or this long, before the connection closes: closing a socket with unread data makes the
 * kernel send RST, which can destroy the 413 before the client reads it.
 */
export const LINGER_MAX_BYTES = 64 * 1024 * 1024;
export const LINGER_MAX_MS = 5_000;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

interface NodeBindings {
  incoming: IncomingMessage;
  outgoing: ServerResponse;
}

/** The Node request and response when served by @hono/node-server, else undefined. */
function nodeBindings(c: Context): NodeBindings | undefined {
  const env = c.env as Partial<NodeBindings> | undefined;
  return env?.incoming instanceof IncomingMessage && env.outgoing !== undefined
    ? (env as NodeBindings)
    : undefined;
}

export function tooLarge(limit: number): HttpError {
  return new HttpError(413, 'payload_too_large', `the request body is larger than ${limit} bytes`);
}

/** The declared Content-Length, or undefined (none, or chunked). */
export function declaredLength(c: Context): number | undefined {
  const header = c.req.header('content-length');
  if (header === undefined || c.req.header('transfer-encoding') !== undefined) return undefined;
  const length = Number(header);
  return Number.isFinite(length) ? length : undefined;
}

/** The body's bytes, at most `limit` of them (413 beyond). */
export async function readBodyBytes(c: Context, limit: number): Promise<Uint8Array> {
  if ((declaredLength(c) ?? 0) > limit) throw tooLarge(limit);
  const node = nodeBindings(c);
  if (node === undefined) {
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    if (bytes.byteLength > limit) throw tooLarge(limit);
    return bytes;
  }
  return readIncoming(node.incoming, limit);
}

function readIncoming(incoming: IncomingMessage, limit: number): Promise<Uint8Array> {
  if (incoming.readableEnded) return Promise.resolve(new Uint8Array(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onGone);
      incoming.off('close', onGone);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        incoming.pause(); // the 413 answer reads and discards the rest (see lingering)
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onGone = (): void => {
      cleanup();
      reject(
        new HttpError(400, 'incomplete_body', 'the request body ended before it was complete'),
      );
    };
    incoming.on('data', onData);
    incoming.once('end', onEnd);
    incoming.once('error', onGone);
    incoming.once('close', onGone);
  });
}

/** The body as text: 400 unless it is UTF-8. */
export async function readBodyText(c: Context, limit: number): Promise<string> {
  const bytes = await readBodyBytes(c, limit);
  try {
    return utf8.decode(bytes);
  } catch {
    throw new HttpError(400, 'invalid_utf8', 'the request body is not valid UTF-8');
  }
}

/**
 * True when arrays/objects in `text` nest deeper than `limit`. One pass, no recursion; string
 * contents (escapes included) are skipped. Malformed text is left for `JSON.parse` to name.
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  if (text.length <= limit) return false; // every level takes at least one character
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      for (i++; i < length; i++) {
        const s = text.charCodeAt(i);
        if (s === 0x5c /* \ */) i++;
        else if (s === 0x22) break;
      }
    } else if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
      if (++depth > limit) return true;
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      depth--;
    }
  }
  return false;
}

/** Parses JSON text after checking its depth: 400 `invalid_json` or `json_too_deep`. */
export function parseJson(text: string): unknown {
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new HttpError(
      400,
      'json_too_deep',
      `the request body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`,
      { max_depth: MAX_JSON_DEPTH },
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new HttpError(
      400,
      'invalid_json',
      `the request body is not valid JSON: ${(error as Error).message}`,
    );
  }
}

/**
 * The 413 answer. On the Node server, when the body has not been read to its end, it is a
 * lingering close: the answer is written at once (with `Connection: close`), the rest of the
 * body is read and discarded (up to LINGER_MAX_BYTES / LINGER_MAX_MS), and only then does the
 * response end and the socket close, so a client still writing its body reads the 413
 * instead of a reset.
 */
export function payloadTooLargeResponse(c: Context, message: string): Response {
  const text = JSON.stringify({ error: 'payload_too_large', message });
  const node = nodeBindings(c);
  if (node === undefined || node.incoming.complete || node.incoming.destroyed) {
    return c.json({ error: 'payload_too_large', message }, 413);
  }
  const bytes = encoder.encode(text);
  const { incoming } = node;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      let discarded = 0;
      const finish = (): void => {
        clearTimeout(timer);
        incoming.off('data', onData);
        incoming.off('end', finish);
        incoming.off('error', finish);
        incoming.off('close', finish);
        try {
          controller.close();
        } catch {
          // already closed
        }
      };
      const onData = (chunk: Buffer): void => {
        discarded += chunk.length;
        if (discarded > LINGER_MAX_BYTES) finish();
      };
      const timer = setTimeout(finish, LINGER_MAX_MS);
      timer.unref();
      incoming.on('data', onData);
      incoming.once('end', finish);
      incoming.once('error', finish);
      incoming.once('close', finish);
      incoming.resume();
    },
  });
  return new Response(body, {
    status: 413,
    headers: {
      'content-type': 'application/json',
      'content-length': String(bytes.byteLength),
      connection: 'close',
    },
  });
}

/**
 * An AbortSignal that fires when the client goes away before its answer is sent, without
 * building the web Request (`c.req.raw.signal`) on the Node server. One per call: use it only
 * where cancelling is worth it (embeddings), not on the cache routes.
 */
export function clientGoneSignal(c: Context): AbortSignal {
  const node = nodeBindings(c);
  if (node === undefined) return c.req.raw.signal;
  const controller = new AbortController();
  const { outgoing } = node;
  outgoing.once('close', () => {
    if (!outgoing.writableFinished) controller.abort(new Error('client connection closed'));
  });
  return controller.signal;
}

/**
 * Reads a JSON object body of at most `limit` bytes, answering 415/413/400 with a message that
 * names the problem (see body.ts: UTF-8 only, nesting at most MAX_JSON_DEPTH deep).
 */
export async function readJsonObject(c: Context, limit: number): Promise<Record<string, unknown>> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/(.+\+)?json\b/i.test(type.trim())) {
    throw new HttpError(
      415,
      'unsupported_media_type',
      'the request body must be JSON (Content-Type: application/json)',
    );
  }
  const raw = await readBodyText(c, limit);
  if (raw.trim() === '')
    throw new HttpError(400, 'invalid_json', 'the request body is empty; expected a JSON object');
  const body = parseJson(raw);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'invalid_body', 'the request body must be a JSON object');
  }
  return body as Record<string, unknown>;
}
