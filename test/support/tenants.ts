import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import type { Receiver } from './receiver.ts';

/** A JSON request to Herald's API as the admin (or with `headers`), as both Herald test harnesses send it. */
export type Api = (method: string, route: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; headers: Headers; body: any }>;

/** What a tenant has, as the API and Temporal show it. */
export interface TenantHoldings { endpoints: number; keys: number; eventTypes: number; deliveries: number; workflowExecutions: number }

/**
 * A tenant as a customer sets one up: a key, a declared event type, an endpoint at the receiver (answering
 * `reply`), a portal session, and `events` events sent with its key. Answers the key and the session's token.
 */
export async function seedTenant(api: Api, receiver: Receiver, tenant: string, events: number, reply = { status: 200 }): Promise<{ key: string; portalToken: string }> {
  const expect = async (status: number, answer: Promise<{ status: number; body: any }>) => {
    const { status: got, body } = await answer;
    assert.equal(got, status, JSON.stringify(body));
    return body;
  };
  await expect(201, api('POST', '/v1/tenants', { id: tenant }));
  const { key } = await expect(201, api('POST', `/v1/tenants/${tenant}/keys`, { name: 'production' }));
  const auth = { authorization: `Bearer ${key}` };
  await expect(201, api('POST', '/v1/event-types', { name: 'order.paid' }, auth));
  await expect(201, api('POST', '/v1/endpoints', { url: receiver.script(`/${tenant}`, reply), eventTypes: ['order.*'] }, auth));
  const link = await expect(201, api('POST', '/v1/portal/sessions', { capabilities: ['view'] }, auth));
  const { token } = await expect(200, api('POST', '/v1/portal/exchange', { code: new URL(link.url).hash.slice('#code='.length) }));
  for (let i = 0; i < events; i++) await expect(202, api('POST', '/v1/events', { id: `${tenant}-${i}`, type: 'order.paid', data: { email: `${tenant}-${i}@example.com` } }, auth));
  return { key, portalToken: token };
}

/** Counts the tenant's rows through the admin's API and its workflow executions through Temporal's visibility. */
export async function holdingsOf(api: Api, client: Client, tenant: string): Promise<TenantHoldings> {
  const listed = async (route: string) => {
    const { status, body } = await api('GET', route);
    assert.equal(status, 200, JSON.stringify(body));
    return body.data.length as number;
  };
  return {
    endpoints: await listed(`/v1/endpoints?tenant=${tenant}`),
    keys: await listed(`/v1/tenants/${tenant}/keys`),
    eventTypes: await listed(`/v1/event-types?tenant=${tenant}`),
    deliveries: await listed(`/v1/deliveries?tenant=${tenant}&limit=1000`),
    workflowExecutions: (await client.workflow.count(`HeraldTenant = '${tenant}'`)).count,
  };
}
