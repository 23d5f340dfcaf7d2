/**
 * End-to-end traces (W3C Trace Context, OpenTelemetry): a producer's `traceparent` on POST /v1/events
 * reaches the event workflow (its start carries it, @temporalio/interceptors-opentelemetry), each
 * delivery activity, and the receiver, as the `traceparent` of every attempt. Spans are exported over
 * OTLP/HTTP when an endpoint is configured, and nothing is recorded otherwise: the producer's trace
 * context is still carried, at the cost of a header check for an event without one.
 *
 * A start is traced when a trace context reaches it (the ingest span, or the attempt that raises an
 * operational event); a workflow and an activity are traced when their headers carry one
 * (workflows/tracing.ts on the workflow side). Untraced, they run as if no interceptor were there.
 */
import { context, propagation, SpanKind, trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { RequestHandler } from 'express';
import {
  makeWorkflowExporter, OpenTelemetryActivityInboundInterceptor, type OpenTelemetrySinks, OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import { TRACE_HEADER } from '@temporalio/interceptors-opentelemetry/lib/instrumentation.js';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import { z } from 'zod';
import { version } from './version.ts';

export interface TracingSettings {
  /** OTEL_EXPORTER_OTLP_ENDPOINT: spans go to `<endpoint>/v1/traces` (OTLP/HTTP, JSON); unset: none are recorded. */
  otlpEndpoint?: string;
}

export interface Tracing {
  /** Spans are recorded and exported (an OTLP endpoint is configured). */
  exporting: boolean;
  tracer: Tracer;
  /** For the Temporal client: a start a trace context reaches carries it to the workflow. */
  clientInterceptor: WorkflowClientInterceptor;
  /** For the worker: an activity whose headers carry a trace context runs in a span of that trace. */
  activityInterceptor: ActivityInterceptorsFactory;
  /** For the worker: where traced workflows' spans go (they are made in the workflow sandbox). */
  sinks: InjectedSinks<OpenTelemetrySinks>;
  /** Exports what is still buffered; call after the worker and the API have stopped. */
  shutdown(): Promise<void>;
}

/** The headers a traced request reads, as the OpenAPI document lists them for POST /v1/events (the propagator checks them, not zod). */
export const traceContextRequestHeaders = z.object({
  traceparent: z.string().optional().describe(
    'W3C Trace Context, `00-<trace-id>-<parent-id>-<flags>`: the event is delivered in this trace, and every attempt sends the receiver a ' +
      'traceparent of the same trace. One that is not valid is ignored, as the specification asks: the event is accepted and delivered untraced',
  ),
  tracestate: z.string().optional().describe('W3C Trace Context vendor state: carried with a valid traceparent to every attempt; ignored without one'),
});

let contextInstalled = false;

/**
 * W3C Trace Context as the process's propagator, and the active trace context kept across awaits
 * (AsyncLocalStorage, which the Temporal SDK's activity context uses already). Process-wide and the
 * same for every Herald of the process, so installed once.
 */
function installTraceContext(): void {
  if (contextInstalled) return;
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  contextInstalled = true;
}

/** One Herald's tracing: its own tracer provider (none when not exporting), so Heralds of one process do not share one. */
export function startTracing(settings: TracingSettings): Tracing {
  installTraceContext();
  const resource = new Resource({ 'service.name': 'herald', 'service.version': version });
  const processor = settings.otlpEndpoint
    ? new BatchSpanProcessor(new OTLPTraceExporter({ url: new URL('v1/traces', settings.otlpEndpoint.replace(/\/?$/, '/')).href }))
    : new NoopSpanProcessor();
  const provider = settings.otlpEndpoint ? new BasicTracerProvider({ resource, spanProcessors: [processor] }) : undefined;
  // Not exporting: the API's no-op tracer, whose spans only carry the context they were started in.
  const tracer = provider?.getTracer('herald', version) ?? trace.getTracer('herald');
  const traced = new OpenTelemetryWorkflowClientInterceptor({ tracer });
  return {
    exporting: provider !== undefined,
    tracer,
    clientInterceptor: {
      startWithDetails: (input, next) => (trace.getSpanContext(context.active()) ? traced.startWithDetails(input, next) : next(input)),
    },
    activityInterceptor: (ctx) => ({
      inbound: {
        execute: (input, next) => (TRACE_HEADER in input.headers ? new OpenTelemetryActivityInboundInterceptor(ctx, { tracer }).execute(input, next) : next(input)),
      },
    }),
    sinks: { exporter: makeWorkflowExporter(processor, resource) },
    shutdown: async () => provider?.shutdown(),
  };
}

/** `traceparent` (and `tracestate`) naming the active span, for an outbound request; none outside a trace. */
export function traceContextHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  propagation.inject(context.active(), headers);
  return headers;
}

/** What the attempt's span (when it records) tells of the attempt. */
export function describeAttemptSpan(attributes: { deliveryId: string; attempt: number; statusCode: number | null }): void {
  trace.getActiveSpan()?.setAttributes({
    'herald.delivery.id': attributes.deliveryId,
    'herald.attempt': attributes.attempt,
    ...(attributes.statusCode !== null && { 'http.response.status_code': attributes.statusCode }),
  });
}

/**
 * Express middleware: the rest of the request runs in the trace of its `traceparent` and `tracestate` (W3C Trace
 * Context: one that is malformed is ignored, as the specification asks, and the request goes on untraced), within a
 * server span when spans are recorded. A request with neither, when nothing is recorded, costs the header lookup.
 */
export function requestTrace(tracing: Pick<Tracing, 'tracer' | 'exporting'>, spanName: string): RequestHandler {
  return (req, res, next) => {
    const parent = propagation.extract(context.active(), req.headers);
    if (!tracing.exporting && !trace.getSpanContext(parent)) return next();
    tracing.tracer.startActiveSpan(spanName, { kind: SpanKind.SERVER }, parent, (span) => {
      res.once('close', () => {
        span.setAttribute('http.response.status_code', res.statusCode);
        span.end();
      });
      next();
    });
  };
}
