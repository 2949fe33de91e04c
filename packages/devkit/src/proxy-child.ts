/**
 * The test FaultProxy in a process of its own, driven over IPC by remote-proxy.ts.
 *
 * Load scripts run autocannon in their own event loop; a proxy sharing that loop would add the
 * load generator's delays to every Redis round trip. Here the proxy has a core's worth of
 * event loop to itself. It exits when its parent disconnects (the parent died or closed it).
 *
 *   node --import tsx packages/devkit/src/proxy-child.ts TARGET_PORT
 */
import { FaultProxy, type FaultMode } from './fault-proxy.js';

interface Command {
  id: number;
  cmd: 'setMode' | 'stats' | 'resetCounters' | 'close';
  mode?: FaultMode;
}

const send = (message: unknown): void => {
  if (process.connected) process.send?.(message);
};

const targetPort = Number(process.argv[2]);
if (!Number.isInteger(targetPort) || targetPort <= 0 || process.send === undefined) {
  process.stderr.write('usage: proxy-child.ts TARGET_PORT (with an IPC channel)\n');
  process.exit(2);
}

const proxy = await FaultProxy.start({ targetPort });
let closing = false;

async function shutdown(): Promise<void> {
  if (closing) return;
  closing = true;
  await proxy.close().catch(() => undefined);
  process.exit(0);
}

process.on('disconnect', () => void shutdown());
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());

process.on('message', (message: Command) => {
  void (async () => {
    try {
      switch (message.cmd) {
        case 'setMode':
          await proxy.setMode(message.mode ?? 'pass');
          break;
        case 'resetCounters':
          proxy.resetCounters();
          break;
        case 'close':
          send({ id: message.id, ok: true, stats: proxy.stats() });
          await shutdown();
          return;
        case 'stats':
          break;
      }
      send({ id: message.id, ok: true, stats: proxy.stats() });
    } catch (error) {
      send({ id: message.id, ok: false, error: String(error) });
    }
  })();
});

send({ type: 'ready', port: proxy.port });
