import type { HeraldEvent, Subscription } from '../../workflows/contract.ts';
import { judgeFilters } from '../sandbox/filter.ts';
import { failureText } from '../transform/filter.ts';
import type { Endpoint } from './store.ts';
import { subscriptionFor } from './subscription.ts';

/** Svix's model: an endpoint that names channels receives only events in one of them; one that names none, every event. */
export const inChannels = (endpoint: Pick<Endpoint, 'channels'>, event: Pick<HeraldEvent, 'channels'>) =>
  endpoint.channels === null || (event.channels ?? []).some((channel) => endpoint.channels!.includes(channel));

/**
 * Of the endpoints subscribed to the event's type, the subscriptions of those that receive it: in its
 * channels, and whose filter gives true for it. Every filter is judged in one sandbox task, so an event
 * to endpoints without filters costs nothing more. A filter that fails on the event (an error, a
 * runaway stopped at the deadline, not true or false) keeps its endpoint, marked: that delivery fails
 * for good at its first attempt, a dead letter to replay once the filter is fixed, where dropping it
 * would lose it unseen and sending it would send what the receiver asked not to get.
 */
export async function receivingSubscriptions(endpoints: Endpoint[], event: HeraldEvent): Promise<Subscription[]> {
  const candidates = endpoints.filter((endpoint) => inChannels(endpoint, event));
  const filtered = candidates.filter((endpoint) => endpoint.filter !== null);
  if (!filtered.length) return candidates.map((endpoint) => subscriptionFor(endpoint));
  const { id, type, tenant, occurredAt, data } = event;
  const outcomes = await judgeFilters(filtered.map((endpoint) => endpoint.filter!), {
    event: { id, type, tenant, occurredAt, data, channels: event.channels ?? [], tags: event.tags ?? [] },
  });
  const verdicts = new Map(filtered.map((endpoint, i) => [endpoint.id, outcomes[i]!]));
  return candidates.flatMap((endpoint) => {
    const verdict = verdicts.get(endpoint.id);
    if (!verdict) return [subscriptionFor(endpoint)];
    if ('failure' in verdict) return [{ ...subscriptionFor(endpoint), filterFailure: `filter: ${failureText(verdict.failure)}` }];
    return verdict.matches ? [subscriptionFor(endpoint)] : [];
  });
}
