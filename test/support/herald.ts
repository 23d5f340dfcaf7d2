import fs from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import type { DestinationStream } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { startHerald, type RunningHerald } from '../../src/herald.ts';
import { createLogger } from '../../src/logger.ts';
import { HeraldTemporal } from '../../src/temporal/heraldTemporal.ts';
import type { DeliveryDetail } from '../../src/storage/deliveryLog.ts';
import { eventually } from './eventually.ts';
import { freePort } from './ports.ts';
import { newTestDataDir, testWorkflowBundle } from './suiteSetup.ts';

export interface TestHerald extends RunningHerald {
  apiUrl: string;
  /** A client of the same dev server, for looking behind the API. */
  client: Client;
  /** Herald's own door to that server: signals as the Web UI or CLI would send them. */
  temporal: HeraldTemporal;
  dataDir: string;
  /** The Temporal SDK's own Prometheus exporter of this process (the first Herald started in it). */
  temporalMetricsUrl: string;
  /** JSON request to the API; answers status, headers and parsed body. */
  api(method: string, route: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: any }>;
}

/**
 * Herald on its embedded default, as `npm start` runs it: the real Temporal dev server
 * (headless unless `webUi`; SQLite in a temp dir), embedded PGlite, the worker and the API, on free ports.
 */
export async function startTestHerald(
  env: Record<string, string> = {},
  options: { logDestination?: DestinationStream; webUi?: boolean } = {},
): Promise<TestHerald> {
  const dataDir = env.HERALD_DATA_DIR ?? await newTestDataDir('herald-test-', { embeddedDatabase: !env.DATABASE_URL });
  const config = loadConfig({
    ...process.env,
    PORT: '0',
    HERALD_HOST: '127.0.0.1',
    HERALD_DATA_DIR: dataDir,
    HERALD_DEV_SERVER_PORT: String(await freePort()),
    HERALD_UI_PORT: String(await freePort()),
    HERALD_TEMPORAL_METRICS_PORT: String(await freePort()),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    ...env,
  });
  const logger = createLogger(config.logLevel, options.logDestination);
  const herald = await startHerald('all', config, logger, { headless: !options.webUi, workflowBundle: await testWorkflowBundle(logger) });
  const connection = await Connection.connect({ address: herald.temporalAddress });
  const apiUrl = herald.apiUrl!;
  const client = new Client({ connection, namespace: config.temporal.namespace });
  return {
    ...herald,
    apiUrl,
    dataDir,
    temporalMetricsUrl: `http://127.0.0.1:${config.metrics.temporalPort}/metrics`,
    client,
    temporal: new HeraldTemporal(client, { taskQueue: config.temporal.taskQueue, deadLetterRetentionMs: config.deadLetterRetentionMs }),
    async api(method, route, body, headers = {}) {
      const response = await fetch(`${apiUrl}${route}`, {
        method,
        headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
    },
    async stop() {
      await connection.close();
      await herald.stop();
      if (!env.HERALD_DATA_DIR) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls a delivery through the API (admin) until it reads `status`. */
export async function waitForDeliveryStatus(herald: TestHerald, deliveryId: string, status: string, timeoutMs = 60_000): Promise<DeliveryDetail> {
  const answer = await eventually(() => herald.api('GET', `/v1/deliveries/${deliveryId}`), (r) => r.body?.status === status, timeoutMs, 100);
  return answer.body;
}

/** Polls each delivery through the API until it reads `delivered`; answers their final statuses. */
export async function waitForDelivered(herald: TestHerald, deliveryIds: string[]): Promise<DeliveryDetail[]> {
  const statuses: DeliveryDetail[] = [];
  for (const id of deliveryIds) {
    const answer = await eventually(() => herald.api('GET', `/v1/deliveries/${id}`), (r) => r.body?.status === 'delivered', 120_000, 250);
    statuses.push(answer.body);
  }
  return statuses;
}

/** The ids of an accepted event's deliveries, as GET /v1/events/:id lists them (admin). */
export async function deliveryIdsOf(herald: TestHerald, tenant: string, eventId: string, headers: Record<string, string> = {}): Promise<string[]> {
  const answer = await herald.api('GET', `/v1/events/${eventId}?tenant=${tenant}`, undefined, headers);
  if (answer.status !== 200) throw new Error(`GET /v1/events/${eventId}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body.deliveries.map((d: { id: string }) => d.id).sort();
}
