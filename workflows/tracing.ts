/**
 * The workflow side of end-to-end traces (src/tracing.ts), registered in the worker's workflow bundle
 * (src/worker.ts). A workflow whose start carries a trace context runs under
 * @temporalio/interceptors-opentelemetry's workflow interceptors: its span joins the producer's
 * trace, and each activity it starts (each child part, each continue-as-new) carries the trace on.
 * Any other workflow runs without them, and without loading the OpenTelemetry SDK: each workflow
 * evaluates its modules afresh, so an untraced event pays for a header check only.
 * Deterministic: the start's headers are in the history, so a replay decides the same.
 */
import type { WorkflowInterceptors } from '@temporalio/workflow';
import type * as otel from '@temporalio/interceptors-opentelemetry/lib/workflow/index.js';

/** The header those interceptors carry the trace context in (their TRACE_HEADER; test/unit/tracing.test.ts holds the two equal). */
export const TRACE_HEADER = '_tracer-data';

export const interceptors = (): WorkflowInterceptors => {
  let traced: {
    inbound: otel.OpenTelemetryInboundInterceptor; outbound: otel.OpenTelemetryOutboundInterceptor; internals: otel.OpenTelemetryInternalsInterceptor;
  } | undefined;
  return {
    inbound: [{
      execute(input, next) {
        if (!(TRACE_HEADER in input.headers)) return next(input);
        // Required here, not imported: only a traced workflow evaluates the SDK (webpack bundles it all the same).
        const sdk = require('@temporalio/interceptors-opentelemetry/lib/workflow/index.js') as typeof otel;
        traced = { inbound: new sdk.OpenTelemetryInboundInterceptor(), outbound: new sdk.OpenTelemetryOutboundInterceptor(), internals: new sdk.OpenTelemetryInternalsInterceptor() };
        return traced.inbound.execute(input, next);
      },
      handleSignal: (input, next) => (traced ? traced.inbound.handleSignal(input, next) : next(input)),
    }],
    outbound: [{
      scheduleActivity: (input, next) => (traced ? traced.outbound.scheduleActivity(input, next) : next(input)),
      scheduleLocalActivity: (input, next) => (traced ? traced.outbound.scheduleLocalActivity(input, next) : next(input)),
      startChildWorkflowExecution: (input, next) => (traced ? traced.outbound.startChildWorkflowExecution(input, next) : next(input)),
      continueAsNew: (input, next) => (traced ? traced.outbound.continueAsNew(input, next) : next(input)),
      signalWorkflow: (input, next) => (traced ? traced.outbound.signalWorkflow(input, next) : next(input)),
      getLogAttributes: (input, next) => (traced ? traced.outbound.getLogAttributes(input, next) : next(input)),
    }],
    internals: [{
      // Releases the context manager the SDK set up for this workflow.
      dispose: (input, next) => (traced ? traced.internals.dispose(input, next) : next(input)),
    }],
  };
};
