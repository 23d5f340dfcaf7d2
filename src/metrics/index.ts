import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { Verdict } from '../delivery/classify.ts';

/** What the delivery activity reports about one attempt. */
export interface AttemptReport {
  eventType: string;
  tenant: string;
  verdict: Verdict;
  statusCode: number | null;
  durationMs: number;
  /** How a request that got no HTTP answer failed. */
  networkFailure?: 'timeout' | 'connection' | 'proxy';
}

/** How one delivery (an event to one endpoint) ended for good. */
export interface DeliveryOutcome {
  eventType: string;
  tenant: string;
  /** `failed`: a final answer, or the retry policy ran out. */
  outcome: 'delivered' | 'failed';
}

/** The hooks the delivery activity calls; nothing else in the delivery path knows about Prometheus. */
export interface DeliveryMetrics {
  /** Once per attempt. */
  recordAttempt(report: AttemptReport): void;
  /** Once per delivery, when it is delivered or has failed for good (not again on a replay's attempts until it ends again). */
  recordDeliveryOutcome(outcome: DeliveryOutcome): void;
}

export interface HeraldMetrics {
  registry: Registry;
  delivery: DeliveryMetrics;
  /**
   * Keeps the `event` label bounded: types outside `declared()` (the event catalog, reloaded every
   * CATALOG_REFRESH_MS) are counted as `other`. Answers a function that stops the reloading.
   */
  followEventCatalog(declared: () => Promise<string[]>): Promise<() => Promise<void>>;
  /** Reloads the declared types now (after a declaration through this process's API). */
  reloadEventCatalog(): Promise<void>;
  /** Counts and times API requests, labelled by route pattern (never the raw path, which holds ids). */
  httpRequests: RequestHandler;
  /** `GET /metrics`: the registry in Prometheus text format. */
  scrape: RequestHandler;
}

/** The `event` label of a type nobody declared. */
export const OTHER_EVENT = 'other';
/** Types Herald itself sends. */
const builtInEventTypes = ['herald.test'];
const CATALOG_REFRESH_MS = 30_000;

/** Why a retryable attempt failed, as the `reason` label of `webhook_retries_total` (the ERP's reasons, plus `rate_limited` and `proxy_error`). */
export function retryReason({ statusCode, networkFailure }: Pick<AttemptReport, 'statusCode' | 'networkFailure'>): string {
  if (statusCode === null) return networkFailure === 'timeout' ? 'timeout' : networkFailure === 'proxy' ? 'proxy_error' : 'connection_error';
  if (statusCode === 429) return 'rate_limited';
  // 408 is the receiver saying it timed out waiting for the request.
  return statusCode === 408 ? 'timeout' : 'server_error';
}

/** One registry per process, created at start and handed to the API and the worker (docs/metrics.md lists it all). */
export function createMetrics(): HeraldMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  let declared = new Set<string>(builtInEventTypes);
  let loadDeclared = async (): Promise<string[]> => [];
  const reloadEventCatalog = async () => {
    declared = new Set([...builtInEventTypes, ...(await loadDeclared())]);
  };
  const eventLabel = (type: string) => (declared.has(type) ? type : OTHER_EVENT);

  const deliveries = new Counter({
    name: 'webhook_deliveries_total',
    help: 'Deliveries (an event to one endpoint) by how they ended: delivered, or failed (a final answer or the retry policy ran out)',
    labelNames: ['event', 'tenant_id', 'status'] as const,
    registers,
  });
  const attempts = new Counter({
    name: 'webhook_delivery_attempts_total',
    help: 'Delivery attempts by result: delivered, retry (retryable failure) or failed (final answer)',
    labelNames: ['event', 'tenant_id', 'result'] as const,
    registers,
  });
  const attemptDuration = new Histogram({
    name: 'webhook_delivery_duration_seconds',
    help: 'Duration of delivery attempts, from loading the endpoint to the classified answer',
    labelNames: ['event', 'tenant_id'] as const,
    buckets: [0.1, 0.5, 1, 2, 5, 10],
    registers,
  });
  const retries = new Counter({
    name: 'webhook_retries_total',
    help: 'Delivery attempts that ended in a retryable failure, by reason: timeout, connection_error, proxy_error, server_error, rate_limited',
    labelNames: ['event', 'tenant_id', 'reason'] as const,
    registers,
  });
  const httpStatus = new Counter({
    name: 'webhook_delivery_http_status',
    help: 'HTTP status codes answered by receivers to delivery attempts',
    labelNames: ['event', 'status_code'] as const,
    registers,
  });
  const requests = new Counter({
    name: 'herald_http_requests_total',
    help: 'API requests by route pattern, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers,
  });
  const requestDuration = new Histogram({
    name: 'herald_http_request_duration_seconds',
    help: 'API request latency by route pattern and method',
    labelNames: ['route', 'method'] as const,
    registers,
  });

  return {
    registry,
    delivery: {
      recordAttempt(report) {
        const labels = { event: eventLabel(report.eventType), tenant_id: report.tenant };
        attempts.inc({ ...labels, result: report.verdict });
        attemptDuration.observe(labels, report.durationMs / 1000);
        if (report.statusCode !== null) httpStatus.inc({ event: labels.event, status_code: String(report.statusCode) });
        if (report.verdict === 'retry') retries.inc({ ...labels, reason: retryReason(report) });
      },
      recordDeliveryOutcome({ eventType, tenant, outcome }) {
        deliveries.inc({ event: eventLabel(eventType), tenant_id: tenant, status: outcome });
      },
    },
    reloadEventCatalog,
    async followEventCatalog(load) {
      loadDeclared = load;
      await reloadEventCatalog();
      const timer = setInterval(() => void reloadEventCatalog().catch(() => undefined), CATALOG_REFRESH_MS);
      timer.unref();
      return async () => clearInterval(timer);
    },
    httpRequests(req, res, next) {
      const stopTimer = requestDuration.startTimer();
      res.once('finish', () => {
        // Requests answered before routing (401, 404, invalid JSON) have no route pattern.
        const labels = { route: req.route ? `${req.baseUrl}${req.route.path}` : 'unmatched', method: req.method };
        stopTimer(labels);
        requests.inc({ ...labels, status: String(res.statusCode) });
      });
      next();
    },
    async scrape(_req, res) {
      res.type(registry.contentType).send(await registry.metrics());
    },
  };
}
