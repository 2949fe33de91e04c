import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../src/http/body.js';
import { startAppHarness, type AppHarness } from '../support/app-harness.js';

// Bodies as the routes read them: nesting depth, UTF-8, and the size limit on what is stored.
// (The socket-level 413 answers are in test/service/oversize-body.test.ts.)
const LIMIT = 64 * 1024;
let h: AppHarness;
beforeAll(async () => {
  h = await startAppHarness({ bodyLimitBytes: LIMIT });
}, 60_000);
afterAll(async () => {
  await h?.close();
});

const JSON_TYPE = { 'content-type': 'application/json' };
const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

async function send(
  method: string,
  path: string,
  body: string | Buffer,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await h.app.request(path, {
    method,
    headers: JSON_TYPE,
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  const text = await res.text();
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  expect(text).not.toMatch(/\bat .*\.(ts|js):\d+/); // no stack frames
  return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
}

describe('JSON nesting depth', () => {
  it.each([
    ['PUT', '/v1/cache/deep', `{"value":${nested(10_000)}}`],
    ['POST', '/v1/embeddings', `{"input":${nested(10_000)}}`],
    ['PUT', '/v1/cache/deep', `{"value":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}`],
  ])('%s %s nested 10,000 deep answers 400 json_too_deep', async (method, path, body) => {
    const res = await send(method, path, body);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'json_too_deep', max_depth: MAX_JSON_DEPTH });
    expect(res.body.message).toMatch(new RegExp(`more than ${MAX_JSON_DEPTH} levels`));
  });

  it(`accepts a body exactly ${MAX_JSON_DEPTH} deep (the body object is level 1) and stores it`, async () => {
    const value = JSON.parse(nested(MAX_JSON_DEPTH - 1)) as unknown;
    const put = await send('PUT', '/v1/cache/deepest', JSON.stringify({ value }));
    expect(put.status).toBe(200);
    const get = await h.app.request('/v1/cache/deepest');
    expect(((await get.json()) as { value: unknown }).value).toEqual(value);
    const over = await send('PUT', '/v1/cache/deepest', `{"value":${nested(MAX_JSON_DEPTH)}}`);
    expect(over.status).toBe(400);
    expect(over.body.error).toBe('json_too_deep');
  });

  it('brackets inside strings are text, not nesting', async () => {
    const value = `${'['.repeat(10_000)}"\\{`;
    expect((await send('PUT', '/v1/cache/brackets', JSON.stringify({ value }))).status).toBe(200);
    const get = await h.app.request('/v1/cache/brackets');
    expect(((await get.json()) as { value: unknown }).value).toBe(value);
  });
});

describe('UTF-8', () => {
  const invalid = [
    ['a lone continuation byte', [0x80]],
    ['an overlong encoding of "/"', [0xc0, 0xaf]],
    ['a UTF-16 surrogate encoded as UTF-8', [0xed, 0xa0, 0x80]],
    ['a truncated 3-byte sequence', [0xe2, 0x82]],
    ['0xFF', [0xff]],
  ] as const;

  it.each(invalid)('PUT with %s in a string answers 400 invalid_utf8', async (_name, bad) => {
    const body = Buffer.concat([
      Buffer.from('{"value":"ab'),
      Buffer.from(bad),
      Buffer.from('cd"}'),
    ]);
    const res = await send('PUT', '/v1/cache/utf8', body);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_utf8' });
    expect(res.body.message).toMatch(/not valid UTF-8/);
  });

  it('POST /v1/embeddings with invalid UTF-8 answers 400 invalid_utf8', async () => {
    const body = Buffer.concat([Buffer.from('{"input":"'), Buffer.from([0xfe]), Buffer.from('"}')]);
    const res = await send('POST', '/v1/embeddings', body);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_utf8');
  });

  it('nothing of a rejected body is stored: no U+FFFD', async () => {
    await send('PUT', '/v1/cache/utf8-kept', JSON.stringify({ value: 'before' }));
    const body = Buffer.concat([
      Buffer.from('{"value":"'),
      Buffer.alloc(1000, 0xff),
      Buffer.from('"}'),
    ]);
    expect((await send('PUT', '/v1/cache/utf8-kept', body)).status).toBe(400);
    const get = await h.app.request('/v1/cache/utf8-kept');
    expect(((await get.json()) as { value: unknown }).value).toBe('before');
  });

  it('valid multi-byte UTF-8 (2, 3 and 4 bytes) round-trips', async () => {
    const value = 'é – 漢字 😀';
    const put = await send('PUT', '/v1/cache/utf8-ok', Buffer.from(JSON.stringify({ value })));
    expect(put.status).toBe(200);
    const get = await h.app.request('/v1/cache/utf8-ok');
    expect(((await get.json()) as { value: unknown }).value).toBe(value);
  });
});

describe('the size limit', () => {
  it('counts bytes, not characters: a body of multi-byte text just over the limit is 413', async () => {
    // 3 bytes per character: fewer characters than LIMIT, more bytes.
    const value = '漢'.repeat(Math.ceil(LIMIT / 3));
    const res = await send('PUT', '/v1/cache/big', JSON.stringify({ value }));
    expect(res.status).toBe(413);
    expect(res.body.error).toBe('payload_too_large');
  });

  it('holds for the stored JSON too: a body under the limit whose value grows when stored is 413', async () => {
    // `12e20` (5 bytes) is stored as `1.2e+21` (7 bytes).
    const count = Math.floor((LIMIT - 20) / 6);
    const body = `{"value":[${Array.from({ length: count }, () => '12e20').join(',')}]}`;
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(LIMIT);
    expect(Buffer.byteLength(JSON.stringify(JSON.parse(body).value))).toBeGreaterThan(LIMIT);
    const res = await send('PUT', '/v1/cache/grows', body);
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ error: 'payload_too_large' });
    expect(res.body.message).toMatch(/as stored JSON/);
    expect((await h.app.request('/v1/cache/grows')).status).toBe(404);
  });

  it('a body of unknown length (no Content-Length) over the limit is 413', async () => {
    const chunk = new TextEncoder().encode('x'.repeat(16 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await h.app.request('/v1/cache/stream', {
      method: 'PUT',
      headers: JSON_TYPE,
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
  });

  it('raised no unexpected error along the way', () => {
    expect(h.errors).toEqual([]);
  });
});
