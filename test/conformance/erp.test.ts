/**
 * The ERP (docs/shared sources 001 and 004), configured as docs/integrations.md section 3 says.
 * The receiver verifies X-Signature with the document's own Python verification ported to
 * TypeScript, and reads the documented payload `{event, resource_type, resource_id, timestamp,
 * data, metadata}`. The metrics part checks the document's series at GET /metrics.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, describe, test } from 'node:test';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';
import { parseExposition, sampleValue } from '../support/prometheus.ts';
import type { ReceivedRequest } from '../support/receiver.ts';
import { curlBody, Findings } from './guide.ts';

/** The document's verify_webhook (section 8, Python), ported: HMAC-SHA256 of the raw body, hex, constant-time compare. */
function verifyWebhook(requestBody: Buffer, signature: string, secret: string): boolean {
  const expected = crypto.createHmac('sha256', Buffer.from(secret, 'utf8')).update(requestBody).digest('hex');
  const received = signature.replace('sha256=', '');
  return expected.length === received.length && crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(received));
}

const zoneLessMicroseconds = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/;

const { herald, receiver, stop } = await startHeraldWithReceiver();
after(stop);

describe('the ERP: receivers keep working unchanged', () => {
  const findings = new Findings();
  const accepted: Record<string, any>[] = [];
  const endpoint = curlBody('erp-endpoint');
  const { tenant, secret } = endpoint;

  const erpReceiver = (request: ReceivedRequest) => {
    const signature = request.headers['x-signature'];
    if (typeof signature !== 'string' || !verifyWebhook(Buffer.from(request.body), signature, secret)) return { status: 401 };
    findings.check(request.headers['content-type'] === 'application/json', `Content-Type ${request.headers['content-type']}`);
    const body = JSON.parse(request.body);
    findings.check(JSON.stringify(Object.keys(body)) === '["event","resource_type","resource_id","timestamp","data","metadata"]', `fields ${Object.keys(body)}`);
    findings.check(body.resource_type === body.event.split('.')[0], `resource_type ${body.resource_type} for ${body.event}`);
    findings.check(typeof body.resource_id === 'string' && body.resource_id === (body.data[`${body.resource_type}_id`] ?? body.data.order_id), `resource_id ${body.resource_id}`);
    findings.check(zoneLessMicroseconds.test(body.timestamp), `timestamp ${body.timestamp}`);
    findings.check(JSON.stringify(body.metadata) === JSON.stringify({ tenant_id: tenant, source: 'gestiqcloud', version: '1.0' }), `metadata ${JSON.stringify(body.metadata)}`);
    accepted.push(body);
    return { status: 200 };
  };


  test('every event type arrives signed and shaped as the document specifies', async () => {
    const created = await herald.api('POST', '/v1/endpoints', { ...endpoint, url: receiver.respond('/erp', erpReceiver) });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    for (const name of endpoint.eventTypes) assert.equal((await herald.api('POST', '/v1/event-types', { name, tenant })).status, 201);

    const invoice = curlBody('erp-event');
    const events = [
      invoice,
      { tenant, type: 'payment.received', data: { payment_id: 'payment-123', invoice_id: 'inv-456', amount: 1500.0, currency: 'USD', payment_method: 'credit_card', reference_number: 'stripe-tx-789' } },
      { tenant, type: 'customer.created', data: { customer_id: 'cust-123', customer_name: 'John Doe', customer_email: 'john@example.com', customer_phone: '+1234567890', customer_type: 'individual' } },
      { tenant, type: 'sales_order.created', data: { order_id: 'order-123', order_number: 'SO-001', customer_id: 'cust-456', customer_name: 'Acme Corp', amount: 5000.0, currency: 'USD', items_count: 5 } },
    ];
    for (const event of events) assert.equal((await herald.api('POST', '/v1/events', event)).status, 202, event.type);
    const requests = await receiver.waitFor('/erp', events.length);

    assert.deepEqual(requests.map((r) => r.status), events.map(() => 200), 'the receiver accepted every signature');
    assert.deepEqual(findings.problems, []);
    const byEvent = new Map(accepted.map((body) => [body.event, body]));
    assert.deepEqual(byEvent.get('invoice.created')!.data, invoice.data);
    assert.deepEqual([...byEvent.values()].map((b) => b.resource_id).sort(), ['cust-123', 'inv-123', 'order-123', 'payment-123']);
  });

  test("the document's metric series, with its labels, count these deliveries", async () => {
    const samples = parseExposition(await (await fetch(`${herald.apiUrl}/metrics`)).text());
    for (const event of endpoint.eventTypes as string[]) {
      assert.equal(sampleValue(samples, 'webhook_deliveries_total', { event, tenant_id: tenant, status: 'delivered' }), 1, event);
      assert.equal(sampleValue(samples, 'webhook_delivery_http_status', { event, status_code: '200' }), 1, event);
      assert.equal(sampleValue(samples, 'webhook_delivery_duration_seconds_count', { event, tenant_id: tenant }), 1, event);
    }
  });
});
