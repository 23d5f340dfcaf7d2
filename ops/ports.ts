import net from 'node:net';
import type { ClusterPorts } from './topology.ts';

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A TCP port free on 127.0.0.1 right now, below 32768: Temporal stores membership ports as a
 * PostgreSQL smallint, and the kernel hands out ephemeral ports above that.
 */
export async function freeLowPort(): Promise<number> {
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * 22_000);
    const server = net.createServer();
    const free = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/** Free ports for every listener of a cluster with `workers` worker processes (tests, the chaos soak). */
export async function freeClusterPorts(workers: number): Promise<ClusterPorts> {
  const membership = [await freeLowPort(), await freeLowPort(), await freeLowPort(), await freeLowPort()] as [number, number, number, number];
  const workerPorts: [number, number][] = [];
  for (let i = 0; i < workers; i += 1) workerPorts.push([await freePort(), await freePort()]);
  return {
    api: await freePort(), webUi: await freePort(), temporalDb: await freePort(), heraldDb: await freePort(),
    temporal: { frontend: await freePort(), frontendHttp: await freePort(), history: await freePort(), matching: await freePort(), worker: await freePort(), membership, metrics: await freePort() },
    workerMetrics: (i) => workerPorts[i]!,
  };
}
