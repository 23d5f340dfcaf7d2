/**
 * The SaaS platform "Sonicus" (docs/shared source 003), configured as docs/integrations.md
 * section 4 says. The receiver reads the documented headers and payload; the document gives no
 * verification code, so the signature is checked as it describes it: `sha256=` and the hex
 * HMAC-SHA256 of the body under the endpoint's secret key.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, describe, test } from 'node:test';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';
import type { ReceivedRequest } from '../support/receiver.ts';
import { curlBody, Findings } from './guide.ts';

const microsecondIso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

const { herald, receiver, stop } = await startHeraldWithReceiver();
after(stop);

describe('the SaaS platform: receivers keep working unchanged', () => {
  const findings = new Findings();
  const accepted = new Map<string, Record<string, any>[]>();
  const endpoint = curlBody('saas-endpoint');

  const crm = (path: string, secret: string | null) => (request: ReceivedRequest) => {
    const h = request.headers;
    if (secret !== null) {
      const expected = `sha256=${crypto.createHmac('sha256', secret).update(request.body).digest('hex')}`;
      if (h['x-sonicus-signature'] !== expected) return { status: 401 };
    } else {
      findings.check(!('x-sonicus-signature' in h), `${path}: a signature without a secret key`);
    }
    const body = JSON.parse(request.body);
    findings.check(h['content-type'] === 'application/json', `${path}: Content-Type ${h['content-type']}`);
    findings.check(h['user-agent'] === 'Sonicus-Webhooks/1.0', `${path}: User-Agent ${h['user-agent']}`);
    findings.check(h['x-sonicus-event'] === 'organization.created', `${path}: X-Sonicus-Event ${h['x-sonicus-event']}`);
    findings.check(h['x-sonicus-event-id'] === body.event_id, `${path}: X-Sonicus-Event-ID ${h['x-sonicus-event-id']} for event_id ${body.event_id}`);
    findings.check(h['x-sonicus-timestamp'] === body.timestamp && microsecondIso.test(body.timestamp), `${path}: timestamps ${h['x-sonicus-timestamp']} ${body.timestamp}`);
    findings.check(JSON.stringify(Object.keys(body)) === '["event_type","event_id","timestamp","data"]', `${path}: fields ${Object.keys(body)}`);
    findings.check(body.event_type === 'organization.created', `${path}: event_type ${body.event_type}`);
    const organization = body.data?.organization;
    for (const field of ['id', 'name', 'display_name', 'domain', 'primary_contact_email', 'subscription_tier', 'subscription_status', 'industry', 'company_size', 'created_at']) {
      findings.check(typeof organization?.[field] === 'string', `${path}: organization.${field}`);
    }
    findings.check(typeof organization?.max_users === 'number' && 'trial_end_date' in organization, `${path}: organization.max_users, trial_end_date`);
    accepted.set(path, [...(accepted.get(path) ?? []), body]);
    return { status: 200 };
  };


  test("an endpoint for all organisations gets every organisation's events, headers and body as documented", async () => {
    const signed = await herald.api('POST', '/v1/endpoints', { ...endpoint, url: receiver.respond('/crm', crm('/crm', endpoint.secret)) });
    assert.equal(signed.status, 201, JSON.stringify(signed.body));
    const unsigned = await herald.api('POST', '/v1/endpoints', { ...endpoint, secret: null, url: receiver.respond('/billing', crm('/billing', null)) });
    assert.equal(unsigned.status, 201, JSON.stringify(unsigned.body));

    const first = curlBody('saas-event');
    const otherOrganisation = '9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d';
    const second = { ...first, id: 'c56a4180-65aa-42ec-a945-5fd21dec0538', tenant: otherOrganisation, data: { organization: { ...first.data.organization, id: otherOrganisation, name: 'Other Org' } } };
    for (const event of [first, second]) assert.equal((await herald.api('POST', '/v1/events', event)).status, 202);
    await receiver.waitFor('/crm', 2);
    await receiver.waitFor('/billing', 2);

    assert.deepEqual(findings.problems, []);
    assert.deepEqual(receiver.requests.map((r) => r.status), [200, 200, 200, 200]);
    for (const path of ['/crm', '/billing']) {
      assert.deepEqual(accepted.get(path)!.map((b) => b.event_id).sort(), [first.id, second.id].sort());
    }
    assert.deepEqual(accepted.get('/crm')!.find((b) => b.event_id === first.id)!.data, first.data);
  });

  test('the test webhook call answers success, status code, response time and error', async () => {
    const call = curlBody('saas-test-send');
    const answer = await herald.api('POST', '/v1/endpoints/test-send', { ...call, url: receiver.script('/test-hook') });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(Object.keys(answer.body).sort(), ['error', 'responseTimeMs', 'statusCode', 'success']);
    assert.equal(answer.body.success, true);
    assert.equal(answer.body.statusCode, 200);
    assert.equal(answer.body.error, null);
    assert.ok(answer.body.responseTimeMs >= 0);
    const [request] = receiver.received('/test-hook');
    assert.deepEqual(JSON.parse(request!.body).data, call.data);
    assert.equal(request!.headers['herald-test'], 'true');
  });
});
