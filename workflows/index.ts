// The workflow bundle's entry point: every workflow the worker runs.
export { eventWorkflow } from './event.ts';
export { pruneDeliveryLogWorkflow } from './prune.ts';
export { deleteTenantWorkflow } from './deleteTenant.ts';
