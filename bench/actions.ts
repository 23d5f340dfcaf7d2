/**
 * Temporal actions and workflow tasks, counted from histories by the rules Temporal Cloud bills by:
 * a workflow start, each activity attempt (server-side retries included), a timer, a signal, a
 * search-attribute upsert, a child workflow (2: its start and the child's own run), a signal to
 * another workflow, and local activities once per workflow task that records them.
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';

const { EventType } = proto.temporal.api.enums.v1;
type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

export interface ActionCount {
  actions: number;
  workflowTasks: number;
  /** Activities scheduled and local-activity markers: how the Web UI lists attempts. */
  attemptEvents: number;
  /** Of those, the ones that carry a summary (the UI's line for each). */
  attemptEventsWithSummary: number;
}

export function countActions(events: HistoryEvent[]): ActionCount {
  let actions = 0;
  let workflowTasks = 0;
  let attemptEvents = 0;
  let attemptEventsWithSummary = 0;
  let markersInTask = false;
  for (const event of events) {
    if (event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED || event.eventType === EventType.EVENT_TYPE_MARKER_RECORDED) {
      attemptEvents += 1;
      if (event.userMetadata?.summary?.data?.length) attemptEventsWithSummary += 1;
    }
    switch (event.eventType) {
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
      case EventType.EVENT_TYPE_TIMER_STARTED:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
      case EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
      case EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
        actions += 1;
        break;
      case EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        actions += 2;
        break;
      // Retried on the server, an activity records one started event: the attempt it ended on.
      case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        actions += event.activityTaskStartedEventAttributes?.attempt ?? 1;
        break;
      case EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
        workflowTasks += 1;
        markersInTask = false;
        break;
      case EventType.EVENT_TYPE_MARKER_RECORDED:
        if (!markersInTask) actions += 1;
        markersInTask = true;
        break;
    }
  }
  return { actions, workflowTasks, attemptEvents, attemptEventsWithSummary };
}

/**
 * Actions and workflow tasks per delivery over the workflows a query finds (at most `sample` of
 * them, each fetched whole), given how many deliveries each event makes.
 */
export async function actionsPerDelivery(client: Client, query: string, deliveriesPerEvent: number, sample = 100) {
  let total: ActionCount = { actions: 0, workflowTasks: 0, attemptEvents: 0, attemptEventsWithSummary: 0 };
  let events = 0;
  for await (const execution of client.workflow.list({ query, pageSize: sample })) {
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    const counted = countActions(history.events ?? []);
    total = {
      actions: total.actions + counted.actions, workflowTasks: total.workflowTasks + counted.workflowTasks,
      attemptEvents: total.attemptEvents + counted.attemptEvents, attemptEventsWithSummary: total.attemptEventsWithSummary + counted.attemptEventsWithSummary,
    };
    if (++events >= sample) break;
  }
  const per = (n: number) => (events ? Math.round((n / (events * deliveriesPerEvent)) * 100) / 100 : null);
  return {
    sampledEvents: events, actionsPerDelivery: per(total.actions), workflowTasksPerDelivery: per(total.workflowTasks),
    attemptsShownWithSummary: `${total.attemptEventsWithSummary} of ${total.attemptEvents}`,
  };
}
