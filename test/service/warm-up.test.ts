import { afterAll, describe, expect, it } from 'vitest';
import { makeModels, ServiceProcess, stopAllServices, waitFor } from '@breakerbox/devkit';

afterAll(() => stopAllServices());

describe('start-up warm-up (EMBEDDING_WARM_UP, on by default)', () => {
  it('loads both models in the background, so health shows them loaded before any request', async () => {
    const models = await makeModels();
    const service = await ServiceProcess.start({
      REDIS_URL: 'redis://127.0.0.1:1/0',
      EMBEDDING_MODEL: models.text,
      CODE_EMBEDDING_MODEL: models.code,
      EMBEDDING_WARM_UP: 'true',
    });
    await waitFor(
      async () => {
        const health = await service.json('/health');
        return health.body.dependencies?.embeddings?.status === 'up';
      },
      { timeoutMs: 15_000, message: 'both models loaded' },
    );
    const health = await service.json('/health');
    expect(health.body.dependencies.embeddings.text.loaded).toBe(true);
    expect(health.body.dependencies.embeddings.code.loaded).toBe(true);
    expect(health.body.circuit_breakers.embedding_service.state).toBe('closed');
    expect(await service.stop()).toBe(0);
  });

  it('a model that cannot load makes /health degraded with the reason, without any request', async () => {
    const models = await makeModels();
    const service = await ServiceProcess.start({
      REDIS_URL: 'redis://127.0.0.1:1/0',
      EMBEDDING_MODEL: models.text,
      CODE_EMBEDDING_MODEL: `${models.dir}/no-such-model`,
      EMBEDDING_WARM_UP: 'true',
    });
    await waitFor(
      async () =>
        (await service.json('/health')).body.dependencies?.embeddings?.code?.status === 'down',
      { timeoutMs: 15_000, message: 'code model reported down' },
    );
    const health = await service.json('/health');
    expect(health.body.status).toBe('degraded');
    expect(health.body.dependencies.embeddings.code.reason).toMatch(/failed to load/);
    expect(await service.stop()).toBe(0);
  });
});
