import { proxyActivities } from '@temporalio/workflow';

type BaselineActivities = { noop(): Promise<void> };

/** The smallest useful workflow: one activity that does nothing. Herald's throughput is measured against it. */
export async function noopWorkflow(): Promise<void> {
  const { noop } = proxyActivities<BaselineActivities>({ startToCloseTimeout: '10s' });
  await noop();
}
