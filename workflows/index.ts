// The workflow bundle's entry point: every workflow the worker runs.
export { eventWorkflow } from './event.ts';
export { deliveryWorkflow } from './delivery.ts';
