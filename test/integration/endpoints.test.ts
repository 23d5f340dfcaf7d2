import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { HeraldEventType } from '../../workflows/contract.ts';
import { deliveryIdsOf, waitForDeliveryStatus } from '../support/herald.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';
import { historyText } from '../support/history.ts';
import type { ReceivedRequest } from '../support/receiver.ts';

/** True when the independent Standard Webhooks verifier accepts the request under `secret`. */
function verifies(secret: string, request: ReceivedRequest): boolean {
  try {
    new Webhook(secret).verify(request.body, request.headers as Record<string, string>);
    return true;
  } catch {
    return false;
  }
}

/** How many signatures the request carries: one per secret signing for the endpoint. */
const signatureCount = (request: ReceivedRequest) => String(request.headers['webhook-signature']).split(' ').length;

const fields = (body: { errors: { field: string }[] }) => body.errors.map((e) => e.field).sort();

const { herald, receiver, stop } = await startHeraldWithReceiver();
after(stop);

describe('managing endpoints on the embedded Temporal dev server', () => {
  /** Ingests one event and answers the ids of its deliveries. */
  async function ingest(event: { id: string; type: string; tenant: string; data?: unknown }): Promise<string[]> {
    const accepted = await herald.api('POST', '/v1/events', event);
    assert.equal(accepted.status, 202);
    return deliveryIdsOf(herald, event.tenant, event.id);
  }

  /** A delivery whose first attempt got a 503 and that now waits an hour: its next attempt comes only on `retryNow`. */
  async function deliveryWaitingToRetry(tenant: string, path: string) {
    const created = await herald.api('POST', '/v1/endpoints', {
      url: receiver.script(path, { status: 503 }, { status: 200 }), retryPolicy: { schedule: ['1h'] }, tenant,
    });
    const [deliveryId] = await ingest({ id: 'evt-1', type: 'order.submitted', tenant });
    await waitForDeliveryStatus(herald, deliveryId!, 'retrying');
    const retryNow = () => herald.temporal.signal(tenant, 'evt-1', 'retryNow', { endpointId: created.body.id });
    return { endpoint: created.body, deliveryId: deliveryId!, retryNow };
  }

  test('PATCH changes only the fields it names; a disabled endpoint is left out of new events', async () => {
    const tenant = 'patching';
    const other = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/patch-other'), tenant });
    const created = await herald.api('POST', '/v1/endpoints', {
      url: receiver.script('/patch-me'), eventTypes: ['order.*'], description: 'before', tenant,
    });
    const route = `/v1/endpoints/${created.body.id}?tenant=${tenant}`;
    const patched = await herald.api('PATCH', route, { description: 'after', enabled: false });
    assert.equal(patched.status, 200);
    const { secret: _secret, updatedAt, ...before } = created.body;
    assert.deepEqual({ ...patched.body, updatedAt }, { ...before, description: 'after', enabled: false, updatedAt });
    assert.ok(patched.body.updatedAt >= updatedAt);
    const { health, ...read } = (await herald.api('GET', route)).body;
    assert.deepEqual(read, patched.body);
    assert.deepEqual(health, { state: 'disabled', consecutiveFailures: 0, lastSuccessAt: null, lastFailureAt: null });

    assert.deepEqual(await ingest({ id: 'while-disabled', type: 'order.submitted', tenant }), [
      `delivery:${tenant}:while-disabled:${other.body.id}`,
    ]);
    await herald.api('PATCH', route, { enabled: true });
    assert.deepEqual((await ingest({ id: 'enabled-again', type: 'order.submitted', tenant })).sort(), [
      `delivery:${tenant}:enabled-again:${created.body.id}`,
      `delivery:${tenant}:enabled-again:${other.body.id}`,
    ].sort());
  });

  test('traffic settings: rateLimit and disableAfter are stored as given, validated, and GET shows health', async () => {
    const tenant = 'traffic-settings';
    const created = await herald.api('POST', '/v1/endpoints', {
      url: receiver.script('/traffic-settings'), tenant, rateLimit: { perSecond: 5, burst: 10 }, disableAfter: '2d',
    });
    assert.equal(created.status, 201);
    assert.deepEqual(created.body.rateLimit, { perSecond: 5, burst: 10 });
    assert.equal(created.body.disableAfter, '2d');
    const route = `/v1/endpoints/${created.body.id}?tenant=${tenant}`;
    // The burst defaults to one second's worth; null turns auto-disable off.
    const patched = await herald.api('PATCH', route, { rateLimit: { perSecond: 0.5 }, disableAfter: null });
    assert.deepEqual(patched.body.rateLimit, { perSecond: 0.5, burst: 1 });
    assert.equal(patched.body.disableAfter, null);
    const read = (await herald.api('GET', route)).body;
    assert.deepEqual(read.health, { state: 'healthy', consecutiveFailures: 0, lastSuccessAt: null, lastFailureAt: null });
    assert.deepEqual((await herald.api('PATCH', route, { rateLimit: null })).body.rateLimit, null);

    const bad = await herald.api('POST', '/v1/endpoints', {
      url: receiver.script('/traffic-bad'), tenant, rateLimit: { perSecond: 0, burst: 1.5, colour: 'red' }, disableAfter: 'a while',
    });
    assert.equal(bad.status, 400);
    assert.deepEqual(fields(bad.body), ['disableAfter', 'rateLimit.burst', 'rateLimit.colour', 'rateLimit.perSecond']);
  });

  test('an invalid PATCH is a 400 naming each failing field, and changes nothing', async () => {
    const created = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/patch-invalid'), tenant: 'patch-invalid' });
    const route = `/v1/endpoints/${created.body.id}?tenant=patch-invalid`;
    const bad = await herald.api('PATCH', route, {
      url: 'ftp://example.com', timeoutMs: 5, eventTypes: [], retryPolicy: 'sometimes', secret: 'whsec_AAAA', colour: 'red',
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.deepEqual(fields(bad.body), ['colour', 'eventTypes', 'retryPolicy', 'secret', 'timeoutMs', 'url']);
    assert.match(bad.body.errors.find((e: { field: string }) => e.field === 'secret').message, /rotate-secret/);
    const { secret: _secret, ...stored } = created.body;
    const { health: _health, ...read } = (await herald.api('GET', route)).body;
    assert.deepEqual(read, stored);

    // A scheme the current secret cannot sign with is refused until a fitting secret is rotated in.
    const plain = await herald.api('POST', '/v1/endpoints', {
      url: receiver.script('/patch-plain'), signature: 'hmac-sha256', secret: 'plain-shared-secret', tenant: 'patch-invalid',
    });
    const plainRoute = `/v1/endpoints/${plain.body.id}?tenant=patch-invalid`;
    const refused = await herald.api('PATCH', plainRoute, { signature: 'standard-webhooks' });
    assert.equal(refused.status, 400);
    assert.deepEqual(fields(refused.body), ['signature']);
    assert.equal((await herald.api('POST', `/v1/endpoints/${plain.body.id}/rotate-secret?tenant=patch-invalid`, {})).status, 200);
    const accepted = await herald.api('PATCH', plainRoute, { signature: 'standard-webhooks' });
    assert.equal(accepted.status, 200);
    assert.deepEqual(accepted.body.signature, { scheme: 'standard-webhooks' });

    assert.equal((await herald.api('PATCH', '/v1/endpoints/ep_missing', { description: 'x' })).status, 404);
  });

  test('a patched URL takes effect at the next attempt of a delivery already under way', async () => {
    const { endpoint, deliveryId, retryNow } = await deliveryWaitingToRetry('patch-url', '/moved-from');
    const patched = await herald.api('PATCH', `/v1/endpoints/${endpoint.id}?tenant=patch-url`, { url: receiver.script('/moved-to') });
    assert.equal(patched.status, 200);
    await retryNow();
    await receiver.waitFor('/moved-to', 1);
    assert.equal((await waitForDeliveryStatus(herald, deliveryId, 'delivered')).attempts.length, 2);
    assert.equal(receiver.received('/moved-from').length, 1);
  });

  test('DELETE answers 204, and a delivery under way then fails with "endpoint was deleted"', async () => {
    const { endpoint, deliveryId, retryNow } = await deliveryWaitingToRetry('deleting', '/deleted');
    const route = `/v1/endpoints/${endpoint.id}?tenant=deleting`;
    const deleted = await herald.api('DELETE', route);
    assert.equal(deleted.status, 204);
    assert.equal(deleted.body, undefined);
    assert.equal((await herald.api('GET', route)).status, 404);
    assert.equal((await herald.api('DELETE', route)).status, 404);

    await retryNow();
    const failed = await waitForDeliveryStatus(herald, deliveryId, 'failed');
    assert.deepEqual(failed.attempts.map((a) => a.error), ['HTTP 503', 'endpoint was deleted']);
    assert.equal(receiver.received('/deleted').length, 1);
  });

  test('after a rotation both secrets verify during the grace period, and only the newest once it ends', async () => {
    const tenant = 'rotation';
    const created = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/rotation'), tenant });
    const original = created.body.secret as string;
    const rotate = (body: unknown) => herald.api('POST', `/v1/endpoints/${created.body.id}/rotate-secret?tenant=${tenant}`, body);

    const first = await rotate({});
    assert.equal(first.status, 200);
    assert.match(first.body.secret, /^whsec_/);
    assert.notEqual(first.body.secret, original);
    // The default grace is 24 hours.
    assert.ok(Math.abs(Date.parse(first.body.previousSecretExpiresAt) - Date.now() - 86_400_000) < 60_000);
    assert.equal((await herald.api('GET', `/v1/endpoints/${created.body.id}?tenant=${tenant}`)).body.secret, undefined);

    await ingest({ id: 'during-grace', type: 'order.submitted', tenant });
    const [duringGrace] = await receiver.waitFor('/rotation', 1);
    assert.equal(signatureCount(duringGrace!), 2);
    assert.ok(verifies(first.body.secret, duringGrace!), 'the new secret verifies during the grace');
    assert.ok(verifies(original, duringGrace!), 'the old secret verifies during the grace');

    const second = await rotate({ gracePeriod: '1s' });
    assert.equal(second.status, 200);
    // Waiting out a known expiry, not hoping: the grace ends at this instant.
    await delay(Math.max(0, Date.parse(second.body.previousSecretExpiresAt) - Date.now() + 50));
    await ingest({ id: 'after-grace', type: 'order.submitted', tenant });
    const afterGrace = (await receiver.waitFor('/rotation', 2))[1]!;
    assert.equal(signatureCount(afterGrace), 1);
    assert.ok(verifies(second.body.secret, afterGrace), 'the newest secret verifies');
    assert.ok(!verifies(first.body.secret, afterGrace), 'the secret whose grace ended no longer verifies');
    assert.ok(!verifies(original, afterGrace));

    const invalid = await rotate({ gracePeriod: '90d', secret: 'not-whsec-form', until: 'later' });
    assert.equal(invalid.status, 400);
    assert.deepEqual(fields(invalid.body), ['gracePeriod', 'until']);
    const unfit = await rotate({ secret: 'not-whsec-form' });
    assert.equal(unfit.status, 400);
    assert.deepEqual(fields(unfit.body), ['secret']);
  });

  test('the test call delivers herald.test through Temporal and answers with the receiver\'s status', async () => {
    const tenant = 'probing';
    const created = await herald.api('POST', '/v1/endpoints', {
      url: receiver.script('/probe', { status: 503, body: 'down for maintenance' }, { status: 204 }), eventTypes: ['order.*'], tenant,
    });
    const route = `/v1/endpoints/${created.body.id}/test?tenant=${tenant}`;

    const failing = await herald.api('POST', route);
    assert.equal(failing.status, 200);
    assert.equal(failing.body.status, 'failed');
    assert.equal(failing.body.statusCode, 503);
    assert.equal(failing.body.error, 'HTTP 503');
    assert.equal(failing.body.responseExcerpt, 'down for maintenance');
    assert.equal(typeof failing.body.durationMs, 'number');

    const passing = await herald.api('POST', route);
    assert.deepEqual({ status: passing.body.status, statusCode: passing.body.statusCode, error: passing.body.error }, {
      status: 'delivered', statusCode: 204, error: null,
    });
    assert.match(passing.body.deliveryId, new RegExp(`^delivery:${tenant}:test@[0-9a-f-]+:${created.body.id}$`));

    // A real delivery: signed, one attempt only, and in Temporal like any other.
    const requests = receiver.received('/probe');
    assert.equal(requests.length, 2);
    const body = new Webhook(created.body.secret).verify(requests[1]!.body, requests[1]!.headers as Record<string, string>) as { type: string };
    assert.equal(body.type, 'herald.test');
    assert.equal(requests[1]!.headers['herald-test'], 'true');
    const described = await herald.client.workflow.getHandle(`event:${tenant}:${passing.body.eventId}`).describe();
    assert.equal(described.type, 'eventWorkflow');
    assert.deepEqual(described.typedSearchAttributes.get(HeraldEventType), 'herald.test');

    assert.equal((await herald.api('POST', '/v1/endpoints/ep_missing/test')).status, 404);
  });

  test('no endpoint secret, current or rotated, appears in any workflow history', async () => {
    const tenant = 'secrets';
    const secret = 'whsec_c2VjcmV0LXRoYXQtbXVzdC1zdGF5LWluLXN0b3JhZ2U=';
    const created = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/secrets'), secret, tenant });
    const rotated = await herald.api('POST', `/v1/endpoints/${created.body.id}/rotate-secret?tenant=${tenant}`, {});
    const marker = 'marker-9f2c7e';
    const [deliveryId] = await ingest({ id: 'secret-check', type: 'order.submitted', tenant, data: { marker } });
    await waitForDeliveryStatus(herald, deliveryId!, 'delivered');
    const probe = await herald.api('POST', `/v1/endpoints/${created.body.id}/test?tenant=${tenant}`);
    assert.equal(probe.body.status, 'delivered');

    const histories = await Promise.all(
      [`event:${tenant}:secret-check`, `event:${tenant}:${probe.body.eventId}`].map((id) => historyText(herald.client, id)),
    );
    // The search sees inside payloads: the event's data is found there.
    assert.ok(histories[0]!.includes(marker));
    for (const candidate of [secret, rotated.body.secret as string]) {
      const key = candidate.replace(/^whsec_/, '');
      for (const history of histories) {
        assert.ok(!history.includes(key), 'a secret was found in a workflow history');
        assert.ok(!history.includes(Buffer.from(key, 'base64').toString('hex')));
      }
    }
  });
});
