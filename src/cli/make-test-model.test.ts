import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { testModelExists } from '../dependencies/embeddings/test-model.js';
import { main } from './make-test-model.js';

describe('make-test-model CLI', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'breakerbox-cli-'));
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await rm(root, { recursive: true, force: true });
  });

  const kindOf = async (dir: string): Promise<string> =>
    JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')).breakerbox.kind;

  it('writes one model per DIR, guessing code for a name with "code"', async () => {
    const text = path.join(root, 'breakerbox-mini-text');
    const code = path.join(root, 'breakerbox-mini-code');
    expect(await main([text, code])).toBe(0);
    expect(testModelExists(text) && testModelExists(code)).toBe(true);
    expect(await kindOf(text)).toBe('text');
    expect(await kindOf(code)).toBe('code');
  });

  it('honours --kind, --seed and --dimension', async () => {
    const dir = path.join(root, 'custom');
    expect(await main(['--kind', 'code', '--seed', '7', '--dimension', '16', dir])).toBe(0);
    const config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ hidden_size: 16, breakerbox: { kind: 'code', seed: 7 } });
  });

  it('--if-missing leaves an existing model alone', async () => {
    const dir = path.join(root, 'keep');
    expect(await main(['--dimension', '8', dir])).toBe(0);
    expect(await main(['--if-missing', dir])).toBe(0);
    const config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'));
    expect(config.hidden_size).toBe(8);
    expect(await main([dir])).toBe(0);
    expect(JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')).hidden_size).toBe(64);
  });

  it('rejects bad usage with exit code 2, and a failed write with 1', async () => {
    expect(await main([])).toBe(2);
    expect(await main(['--kind', 'image', path.join(root, 'x')])).toBe(2);
    expect(await main(['--seed', 'abc', path.join(root, 'x')])).toBe(2);
    expect(await main(['--bogus', path.join(root, 'x')])).toBe(2);
    expect(await main(['--help'])).toBe(0);
    expect(await main(['--dimension', '1', path.join(root, 'x')])).toBe(1);
  });
});
