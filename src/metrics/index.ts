import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { Verdict } from '../delivery/classify.ts';

/** What the delivery activity reports about one attempt. */
export interface AttemptReport {
  eventType: string;
  verdict: Verdict;
  statusCode: number | null;
  durationMs: number;
  /** How a request that got no HTTP answer failed. */
  networkFailure?: 'timeout' | 'connection';
}

/** The one hook the delivery activity calls; nothing else in the delivery path knows about Prometheus. */
export interface DeliveryMetrics {
  recordAttempt(report: AttemptReport): void;
}

export interface HeraldMetrics {
  registry: Registry;
  delivery: DeliveryMetrics;
  /** Counts and times API requests, labelled by route pattern (never the raw path, which holds ids). */
  httpRequests: RequestHandler;
  /** `GET /metrics`: the registry in Prometheus text format. */
  scrape: RequestHandler;
}

/** Why a retryable attempt failed, as the `reason` label of `webhook_retries_total`. */
function retryReason({ statusCode, networkFailure }: AttemptReport): string {
  if (statusCode === null) return networkFailure ?? 'connection';
  return statusCode === 408 || statusCode === 429 ? `http_${statusCode}` : 'http_5xx';
}

/** One registry per process, created at start and handed to the API and the worker (docs/metrics.md lists it all). */
export function createMetrics(): HeraldMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const deliveries = new Counter({
    name: 'webhook_deliveries_total',
    help: 'Delivery attempts by event type and outcome: delivered, retry (retryable failure) or failed (not retryable)',
    labelNames: ['event', 'status'] as const,
    registers,
  });
  const attemptDuration = new Histogram({
    name: 'webhook_delivery_duration_seconds',
    help: 'Duration of delivery attempts, from loading the endpoint to the classified answer',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60],
    registers,
  });
  const retries = new Counter({
    name: 'webhook_retries_total',
    help: 'Delivery attempts that ended in a retryable failure, by reason',
    labelNames: ['reason'] as const,
    registers,
  });
  const httpStatus = new Counter({
    name: 'webhook_delivery_http_status',
    help: 'HTTP status codes answered by receivers to delivery attempts',
    labelNames: ['code'] as const,
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
        deliveries.inc({ event: report.eventType, status: report.verdict });
        attemptDuration.observe(report.durationMs / 1000);
        if (report.statusCode !== null) httpStatus.inc({ code: String(report.statusCode) });
        if (report.verdict === 'retry') retries.inc({ reason: retryReason(report) });
      },
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
