import { Client } from '@temporalio/client';
import { NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createApp } from './api/app.ts';
import { answerClientError } from './api/problem.ts';
import type { Config } from './config.ts';
import { EndpointCredentials } from './delivery/credentials.ts';
import type { Logger } from './logger.ts';
import { EventCatalog } from './eventCatalog.ts';
import { listen } from './httpServer.ts';
import { createMetrics } from './metrics/index.ts';
import { serveMetrics } from './metrics/server.ts';
import { createPrivateDir, openDb, type Db } from './storage/db.ts';
import { DeliveryLog } from './storage/deliveryLog.ts';
import { EndpointStore } from './endpoints/store.ts';
import { createTrafficControl } from './endpoints/trafficControl.ts';
import { TenantStore } from './storage/tenants.ts';
import { TenantDeletions } from './storage/tenantDeletions.ts';
import { AuditLog } from './storage/auditLog.ts';
import { PortalSessionStore } from './portal/sessions.ts';
import { EventTypeStore } from './storage/eventTypes.ts';
import { startDevServer, type DevServer } from './temporal/devServer.ts';
import { HeraldTemporal } from './temporal/heraldTemporal.ts';
import { heraldDataConverter } from './temporal/payloadCodec.ts';
import { installTemporalRuntime } from './temporal/runtime.ts';
import { startTracing } from './tracing.ts';
import { bundleWorkflows, createHeraldWorker } from './worker.ts';

export type Role = 'all' | 'api' | 'worker';

export interface RunningHerald {
  /** Where the API listens, when this process runs it. */
  apiUrl?: string;
  temporalAddress: string;
  /**
   * Settles only when something Herald cannot run without is gone for good (the embedded Temporal
   * server could not be restarted); the process should then stop and exit non-zero.
   */
  failed: Promise<Error>;
  /** Drains HTTP, lets the worker finish or hand back its tasks, then closes storage and the embedded server. */
  stop(): Promise<void>;
}

/**
 * Starts the parts of Herald a role needs: the embedded Temporal dev server when no
 * address is configured, storage, the worker and the API.
 */
export async function startHerald(
  role: Role,
  config: Config,
  logger: Logger,
  options: {
    headless?: boolean;
    /** A workflow bundle built beforehand (the test suite builds one for all its Heralds); otherwise built at start. */
    workflowBundle?: WorkerOptions['workflowBundle'];
  } = {},
): Promise<RunningHerald> {
  if (role !== 'all' && !config.databaseUrl) {
    throw new Error(`'${role}' alone needs DATABASE_URL: embedded PGlite is one process, so run both roles together with 'npm start'`);
  }
  if (role !== 'all' && !config.temporal.address) {
    throw new Error(`'${role}' alone needs TEMPORAL_ADDRESS; only 'npm start' starts an embedded Temporal`);
  }
  // The SDK's exporter cannot check a key: it stays on loopback whatever else is exposed.
  const sdkMetricsAddress = role !== 'api' && config.metrics.temporalPort ? `127.0.0.1:${config.metrics.temporalPort}` : undefined;
  installTemporalRuntime(logger, { prometheusBindAddress: sdkMetricsAddress });
  if (sdkMetricsAddress) logger.info({ url: `http://${sdkMetricsAddress}/metrics` }, 'Temporal SDK worker metrics');
  const metrics = createMetrics();
  for (const warning of config.exposureWarnings) logger.warn(warning);
  // Worker and client share it, so every process holding the keys reads and writes the same histories.
  const dataConverter = heraldDataConverter(config.payloadKeys);
  if (config.payloadKeys.length) {
    logger.info({ encryptingWith: config.payloadKeys[0]!.id, decryptingWith: config.payloadKeys.map((k) => k.id) }, 'payloads encrypted in Temporal');
  }

  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const step of stops.splice(0).reverse()) await step().catch((err) => logger.error({ err }, 'error during shutdown'));
  };
  const tracing = startTracing(config.tracing);
  // Pushed first, so it runs last: the spans of the last attempts and requests are exported before the process ends.
  stops.push(() => tracing.shutdown());
  if (tracing.exporting) logger.info({ otlpEndpoint: new URL(config.tracing.otlpEndpoint!).origin }, 'spans exported over OTLP');
  try {
    // Before either embedded store creates it with default permissions.
    if (!config.temporal.address || !config.databaseUrl) createPrivateDir(config.dataDir);
    // The embedded server, storage and the workflow bundle are independent: prepare them together.
    const [server, db, bundle] = await Promise.allSettled([
      config.temporal.address
        ? undefined
        : startDevServer({
            cacheDir: config.cacheDir,
            dataDir: config.dataDir,
            port: config.temporal.devServerPort,
            uiPort: config.temporal.uiPort,
            namespace: config.temporal.namespace,
            retentionDays: config.idempotencyWindowMs / 86_400_000,
            headless: options.headless,
            sqliteSync: config.tuning.embeddedSqliteSync,
            // The embedded Web UI decrypts through this API's codec endpoint.
            uiCodecEndpoint: config.payloadKeys.length ? `http://localhost:${config.port}/codec` : undefined,
            logger,
          }),
      openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger }),
      role === 'api' ? undefined : (options.workflowBundle ?? (config.workflowBundlePath ? { codePath: config.workflowBundlePath } : bundleWorkflows(logger))),
    ]);
    if (server.status === 'fulfilled' && server.value) stops.push(server.value.stop);
    if (db.status === 'fulfilled') stops.push(() => db.value.close());
    for (const step of [server, db, bundle]) if (step.status === 'rejected') throw step.reason;
    const temporalAddress = config.temporal.address ?? (server as PromiseFulfilledResult<DevServer>).value.address;
    const storage = (db as PromiseFulfilledResult<Db>).value;
    const endpoints = new EndpointStore(storage, { secretKeys: config.payloadKeys });
    const log = new DeliveryLog(storage, config.payloadKeys);
    const tenants = new TenantStore(storage);
    const audit = new AuditLog(storage);
    const deletions = new TenantDeletions(storage);
    stops.push(await metrics.followEventCatalog(() => new EventTypeStore(storage).declaredNames()));
    const workflowBundle = (bundle as PromiseFulfilledResult<WorkerOptions['workflowBundle']>).value;
    // The API process owns configuration-defined endpoints; a lone worker only reads them.
    if (role !== 'worker') {
      // A deleted tenant's endpoints stay deleted, even those the configuration still names.
      const deleted = await deletions.deletedTenants();
      const staticRoutes = config.staticRoutes.filter((route) => !deleted.has(route.tenant));
      await endpoints.syncStaticRoutes(staticRoutes);
      if (staticRoutes.length < config.staticRoutes.length) {
        logger.warn({ routes: config.staticRoutes.filter((route) => deleted.has(route.tenant)).map((r) => `${r.tenant}/${r.name}`) }, 'static routes of deleted tenants left out');
      }
      const secrets = await endpoints.sealStoredSecrets();
      if (secrets.sealed) logger.info({ endpoints: secrets.sealed }, 'signing secrets sealed with the first of HERALD_PAYLOAD_KEYS');
      if (secrets.unreadable.length) logger.warn({ endpointIds: secrets.unreadable }, 'signing secrets sealed under a key no longer in HERALD_PAYLOAD_KEYS: their deliveries fail until it is back');
      if (staticRoutes.length) logger.info({ routes: staticRoutes.map((r) => `${r.tenant}/${r.name}`) }, 'static routes stored');
      if (config.staticRoutesLeftOut.length) logger.info({ leftOut: config.staticRoutesLeftOut }, 'static routes without a URL left out');
    }

    // One connection per process: an API sharing it with the worker can start workflows eagerly.
    const connection = await NativeConnection.connect({ address: temporalAddress });
    stops.push(() => connection.close());
    // API and worker share it too: the worker then finds the large events the API just accepted in its cache.
    const temporal = new HeraldTemporal(new Client({
      connection, namespace: config.temporal.namespace, dataConverter, interceptors: { workflow: [tracing.clientInterceptor] },
    }), {
      taskQueue: config.temporal.taskQueue,
      deadLetterRetentionMs: config.deadLetterRetentionMs,
      // Eager start needs a worker in this process.
      eagerStart: config.tuning.eagerStart && role === 'all',
      firstAttemptLocal: config.tuning.firstAttemptLocal,
    });

    if (role !== 'api') {
      const workerLogger = logger.child({ role: 'worker' });
      const credentials = new EndpointCredentials({
        guarded: !config.destinations.allowPrivateTargets, keepAlive: config.tuning.deliveryKeepAlive, proxy: config.egressProxy,
      });
      stops.push(() => credentials.close());
      const worker = await createHeraldWorker(
        { connection, namespace: config.temporal.namespace, taskQueue: config.temporal.taskQueue, workflowBundle, tuning: config.tuning, dataConverter, tracing },
        {
          db: storage, endpoints, log, temporal, logger: workerLogger, metrics: metrics.delivery, tenants, audit, deletions,
          traffic: createTrafficControl({ db: storage, endpoints, logger: workerLogger, settings: config.traffic }),
          credentials,
        },
      );
      const running = worker.run();
      running.catch((err) => workerLogger.error({ err }, 'worker stopped with an error'));
      stops.push(async () => {
        worker.shutdown();
        await running.catch(() => undefined);
      });
      workerLogger.info({ taskQueue: config.temporal.taskQueue }, 'Herald worker running');
      if (role === 'worker') {
        const metricsServer = await serveMetrics(metrics.registry, { port: config.metrics.port, host: config.host, apiKey: config.apiKey, http: config.http });
        stops.push(metricsServer.close);
        workerLogger.info({ url: metricsServer.url }, 'metrics served');
      }
    }

    let apiUrl: string | undefined;
    if (role !== 'worker') {
      await temporal.schedulePruning({
        retentionMs: config.attemptLogRetentionMs, idempotencyWindowMs: config.idempotencyWindowMs, payloadRetentionMs: config.payloadRetentionMs,
        auditRetentionMs: config.auditRetentionMs,
      });
      const app = createApp({
        temporal, db: storage, endpoints, log, audit, logger, metrics,
        tenants,
        deletions,
        portalSessions: new PortalSessionStore(storage),
        publicUrl: config.publicUrl,
        temporalWebUi: { url: config.temporal.webUiUrl, namespace: config.temporal.namespace },
        catalog: new EventCatalog(new EventTypeStore(storage), { strict: config.strictEventTypes }),
        apiKey: config.apiKey,
        checkHostHeader: config.checkHostHeader,
        quotas: config.quotas,
        destinations: config.destinations,
        egressProxy: config.egressProxy,
        maxBodyBytes: config.maxBodyBytes,
        payloadKeys: config.payloadKeys,
        codecCorsOrigins: config.codecCorsOrigins,
        tracing,
      });
      const api = await listen(app, { port: config.port, host: config.host }, config.http);
      api.server.on('clientError', answerClientError);
      stops.push(api.close);
      apiUrl = `http://localhost:${api.port}`;
      logger.info({ url: apiUrl }, 'Herald API listening');
    }
    const failed = server.status === 'fulfilled' && server.value ? server.value.lost : new Promise<Error>(() => {});
    return { apiUrl, temporalAddress, failed, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

