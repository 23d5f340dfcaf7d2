import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { CapturedLog } from '../support/capturedLog.ts';
import { deliveryIdsOf } from '../support/herald.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

const apiKey = 'hk_live_7Qm2xVb9Lr4Tz8Np3Ws6Yd1C';
const log = new CapturedLog();
// trace: the most verbose Herald and the Temporal SDK get, so nothing hides below the level.
const { herald, receiver, stop } = await startHeraldWithReceiver({ HERALD_API_KEY: apiKey, HERALD_ALLOW_PRIVATE_TARGETS: 'true', LOG_LEVEL: 'trace' }, { logDestination: log });
after(stop);

describe('logs of an ingest and its deliveries', () => {
  test('carry event, delivery and endpoint ids and attempt numbers, and no secret, signature or API key', async () => {
    const auth = { authorization: `Bearer ${apiKey}` };
    const endpoints = [
      { path: '/standard', signature: 'standard-webhooks', secret: 'whsec_c2VjcmV0LXN0YW5kYXJkLXdlYmhvb2tzLWtleQ==', replies: [{ status: 500 }, { status: 200 }] },
      { path: '/hmac', signature: 'hmac-sha256', secret: 'hmac-secret-5Jt8Kw2Qp7Zr', replies: [{ status: 200 }] },
      { path: '/shared', signature: 'shared-secret', secret: 'shared-secret-9Xv4Nb6Ht1Lm', replies: [{ status: 200 }] },
    ];
    const endpointIds: string[] = [];
    for (const { path, signature, secret, replies } of endpoints) {
      const created = await herald.api('POST', '/v1/endpoints', {
        url: receiver.script(path, ...replies), eventTypes: ['payment.captured'], tenant: 'redaction',
        signature, secret, retryPolicy: { schedule: ['1s'] },
      }, auth);
      assert.equal(created.status, 201);
      endpointIds.push(created.body.id);
    }
    const wrongKey = 'hk_wrong_4Fh7Ue2Ry9Kc5Mv8';
    assert.equal((await herald.api('POST', '/v1/events', { type: 'payment.captured' }, { authorization: `Bearer ${wrongKey}` })).status, 401);
    const ingest = await herald.api('POST', '/v1/events', { id: 'pay-77', type: 'payment.captured', tenant: 'redaction', data: { amount: 5 } }, auth);
    assert.equal(ingest.status, 202);
    await herald.client.workflow.getHandle(ingest.body.workflowId).result();
    const deliveryIds = await deliveryIdsOf(herald, 'redaction', 'pay-77', auth);

    const signatures = receiver.requests.flatMap((r) => [
      ...String(r.headers['webhook-signature'] ?? '').split(' ').filter(Boolean).map((s) => s.replace(/^v1,/, '')),
      ...[r.headers['x-signature'] ?? []].flat().map((s) => s.replace(/^sha256=/, '')),
      ...[r.headers['x-webhook-secret'] ?? []].flat(),
    ]);
    assert.equal(signatures.length, 4, 'two standard-webhooks attempts, one HMAC, one shared secret');
    const secrets = [apiKey, wrongKey, ...endpoints.map((e) => e.secret), 'c2VjcmV0LXN0YW5kYXJkLXdlYmhvb2tzLWtleQ', ...signatures];
    for (const line of log.lines) {
      JSON.parse(line);
      for (const secret of secrets) assert.ok(!line.includes(secret), `a log line shows a secret (${secret.slice(0, 6)}…): ${line}`);
    }

    const entries = log.lines.map((line) => JSON.parse(line));
    assert.ok(entries.some((e) => e.msg === 'event accepted' && e.eventId === 'pay-77'));
    const attempts = entries.filter((e) => e.msg === 'delivery attempt');
    assert.deepEqual(
      attempts.map((e) => [e.eventId, e.deliveryId, e.endpointId, e.attempt]).sort(),
      [
        ['pay-77', deliveryIds.find((id: string) => id.endsWith(endpointIds[0]!)), endpointIds[0], 1],
        ['pay-77', deliveryIds.find((id: string) => id.endsWith(endpointIds[0]!)), endpointIds[0], 2],
        ['pay-77', deliveryIds.find((id: string) => id.endsWith(endpointIds[1]!)), endpointIds[1], 1],
        ['pay-77', deliveryIds.find((id: string) => id.endsWith(endpointIds[2]!)), endpointIds[2], 1],
      ].sort(),
    );
  });
});
