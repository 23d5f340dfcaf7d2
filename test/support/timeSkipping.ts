import fs from 'node:fs';
import path from 'node:path';
import proto from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { loadConfig } from '../../src/config.ts';
import { createLogger, type Logger } from '../../src/logger.ts';
import { createMetrics, type DeliveryMetrics } from '../../src/metrics/index.ts';
import type { Db } from '../../src/storage/db.ts';
import { DeliveryLog } from '../../src/storage/deliveryLog.ts';
import { EndpointStore } from '../../src/endpoints/store.ts';
import { createTrafficControl, defaultTrafficSettings, type TrafficSettings } from '../../src/endpoints/trafficControl.ts';
import { HeraldTemporal } from '../../src/temporal/heraldTemporal.ts';
import { installTemporalRuntime } from '../../src/temporal/runtime.ts';
import { createHeraldWorker } from '../../src/worker.ts';
import { TenantDeletions } from '../../src/storage/tenantDeletions.ts';
import { TenantStore } from '../../src/storage/tenants.ts';
import { AuditLog } from '../../src/storage/auditLog.ts';
import { heraldSearchAttributes } from '../../workflows/contract.ts';
import { openTestMemoryDb, testWorkflowBundle } from './suiteSetup.ts';

const { IndexedValueType } = proto.temporal.api.enums.v1;
const indexedValueType: Record<string, proto.temporal.api.enums.v1.IndexedValueType> = {
  KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  KEYWORD_LIST: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
  INT: IndexedValueType.INDEXED_VALUE_TYPE_INT,
};

export interface TimeSkippingHerald {
  env: TestWorkflowEnvironment;
  db: Db;
  endpoints: EndpointStore;
  log: DeliveryLog;
  temporal: HeraldTemporal;
  logger: Logger;
  metrics: DeliveryMetrics;
  taskQueue: string;
  stop(): Promise<void>;
}

/**
 * The SDK gives the test server a fixed 5 s to answer, then kills it: a JVM starting on a busy
 * machine (test files run side by side) can take longer, so it gets two more tries.
 */
async function startTestServer(launcher: string): Promise<TestWorkflowEnvironment> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: launcher } } });
    } catch (err) {
      if (attempt === 3 || !/did not start within/.test(String(err))) throw err;
    }
  }
}

/**
 * Temporal's real time-skipping test server (Java, provisioned by scripts/provision.sh),
 * Herald's search attributes registered on it, and a Herald worker with real activities.
 */
export async function startTimeSkippingHerald(
  options: { deadLetterRetentionMs?: number; traffic?: Partial<TrafficSettings>; firstAttemptLocal?: boolean } = {},
): Promise<TimeSkippingHerald> {
  const logger = createLogger(process.env.LOG_LEVEL ?? 'silent');
  installTemporalRuntime(logger);
  const launcher = path.join(loadConfig().cacheDir, 'temporal-test-server');
  if (!fs.existsSync(launcher)) throw new Error(`time-skipping test server missing at ${launcher}: run 'npm run provision'`);

  const env = await startTestServer(launcher);
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(heraldSearchAttributes.map((key) => [key.name, indexedValueType[key.type]!])),
  });
  const db: Db = await openTestMemoryDb();
  const endpoints = new EndpointStore(db);
  const log = new DeliveryLog(db);
  const taskQueue = 'herald-test';
  const temporal = new HeraldTemporal(env.client, { taskQueue, deadLetterRetentionMs: options.deadLetterRetentionMs ?? 3_600_000, firstAttemptLocal: options.firstAttemptLocal });
  const metrics = createMetrics().delivery;
  const worker: Worker = await createHeraldWorker(
    { connection: env.nativeConnection, namespace: env.namespace ?? 'default', taskQueue, workflowBundle: await testWorkflowBundle(logger) },
    { db, endpoints, log, temporal, logger, metrics, tenants: new TenantStore(db), audit: new AuditLog(db), deletions: new TenantDeletions(db), traffic: createTrafficControl({ db, endpoints, logger, settings: { ...defaultTrafficSettings, ...options.traffic } }) },
  );
  const running = worker.run();
  return {
    env,
    db,
    endpoints,
    log,
    temporal,
    logger,
    metrics,
    taskQueue,
    async stop() {
      worker.shutdown();
      await running;
      await db.close();
      await env.teardown();
    },
  };
}
