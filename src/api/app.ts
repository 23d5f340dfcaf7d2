import type { DestinationPolicy } from '../delivery/destinations.ts';
import type { EgressProxy } from '../delivery/egressProxy.ts';
import express, { type Express } from 'express';
import { jsonBody } from './body.ts';
import type { EventCatalog } from '../eventCatalog.ts';
import type { Logger } from '../logger.ts';
import type { HeraldMetrics } from '../metrics/index.ts';
import type { Db } from '../storage/db.ts';
import type { AuditLog } from '../storage/auditLog.ts';
import type { DeliveryLog } from '../storage/deliveryLog.ts';
import type { EndpointStore } from '../endpoints/store.ts';
import type { TenantDeletions } from '../storage/tenantDeletions.ts';
import type { TenantStore } from '../storage/tenants.ts';
import type { PortalSessionStore } from '../portal/sessions.ts';
import { portalPage } from '../portal/page.ts';
import type { HeraldTemporal } from '../temporal/heraldTemporal.ts';
import type { PayloadKey } from '../keys.ts';
import { ReplayLimiter, type Quotas } from '../quotas.ts';
import { requestTrace, type Tracing } from '../tracing.ts';
import { auditRouter, recordManagementActions } from './audit.ts';
import { authenticate, requireAdmin, requireLoopbackHost } from './auth.ts';
import { codecCors, codecRouter } from './codec.ts';
import { deliveriesRouter } from './deliveries.ts';
import { endpointsRouter } from './endpoints/index.ts';
import { eventsRouter } from './events.ts';
import { eventTypesRouter } from './eventTypes.ts';
import { healthRouter } from './health.ts';
import { openApiRouter } from './openapi.ts';
import { portalExchangeRouter, portalRouter } from './portal.ts';
import { portalGate } from './portalGate.ts';
import { notFound, problemHandler } from './problem.ts';
import { tenantsRouter } from './tenants.ts';

export interface ApiDeps {
  temporal: HeraldTemporal;
  db: Db;
  endpoints: EndpointStore;
  log: DeliveryLog;
  audit: AuditLog;
  tenants: TenantStore;
  deletions: TenantDeletions;
  portalSessions: PortalSessionStore;
  /** Portal links start with it; undefined: the address the issuing request reached. */
  publicUrl: string | undefined;
  /** Admin-issued portal sessions link each event to its workflow there. */
  temporalWebUi: { url: string; namespace: string };
  catalog: EventCatalog;
  apiKey: string | undefined;
  /** Refuse requests not addressed to a loopback name (on whenever no admin key is set). */
  checkHostHeader: boolean;
  quotas: Quotas;
  destinations: DestinationPolicy;
  /** HERALD_EGRESS_PROXY, for test sends. */
  egressProxy?: EgressProxy;
  /** Larger request bodies are refused with 413. */
  maxBodyBytes: number;
  /** The codec endpoint decrypts with these; none: it passes plaintext payloads through. */
  payloadKeys: readonly PayloadKey[];
  /** Browser origins (the Temporal Web UI) allowed to call the codec endpoint. */
  codecCorsOrigins: readonly string[];
  /** Ingest joins the producer's trace (src/tracing.ts); unset: traceparent is not read (an app built alone, in tests). */
  tracing?: Pick<Tracing, 'tracer' | 'exporting'>;
  logger: Logger;
  metrics: HeraldMetrics;
}

export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(deps.metrics.httpRequests);
  if (deps.checkHostHeader) app.use(requireLoopbackHost);
  app.use(healthRouter(deps));
  app.use(openApiRouter());
  app.use('/codec', codecCors(deps.codecCorsOrigins));
  // The portal's page is public (it holds no data); what it shows comes from /v1 with a session token.
  app.use('/portal', portalPage(deps.portalSessions));
  app.use(portalExchangeRouter(deps));
  // Every route but health and the API description needs a key, refused before its body is read.
  app.use(authenticate(deps));
  // Every tenant's event types and volumes: the operator's, not a tenant's.
  app.get('/metrics', requireAdmin('reading metrics'), deps.metrics.scrape);
  app.use(jsonBody(deps.maxBodyBytes));
  // A portal session reaches only the routes its capabilities and endpoints allow.
  app.use(portalGate);
  // Every management action that succeeds is recorded here, whichever router answers it.
  app.use(recordManagementActions(deps.audit, deps.logger));
  app.use(auditRouter(deps.audit));
  if (deps.tracing) app.post('/v1/events', requestTrace(deps.tracing, 'POST /v1/events'));
  app.use(eventsRouter(deps));
  // Replays and recovers draw on one allowance per tenant.
  const replays = new ReplayLimiter(deps.quotas.replaysPerMinute);
  app.use(endpointsRouter({ ...deps, replays }));
  app.use(deliveriesRouter({ ...deps, replays }));
  app.use(tenantsRouter(deps));
  app.use(portalRouter(deps));
  // This process's metrics label newly declared types at once (other processes within 30 s).
  app.use(eventTypesRouter(deps.catalog, deps.metrics.reloadEventCatalog));
  app.use(codecRouter(deps.payloadKeys));
  app.use((req, _res, next) => next(notFound(`route ${req.method} ${req.path}`)));
  app.use(problemHandler(deps.logger));
  return app;
}
