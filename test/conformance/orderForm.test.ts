/**
 * The Make.com order form (docs/shared source 000), configured as docs/integrations.md section 1
 * says. The receiver is the Make.com scenario as the document describes it: it validates the
 * secret header when one is configured, reads the documented payload fields, and deduplicates on
 * request_id.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { startHeraldWithReceiver, type TestHeraldWithReceiver } from '../support/heraldWithReceiver.ts';
import type { ReceivedRequest } from '../support/receiver.ts';
import { curlBody, envBlock, Findings } from './guide.ts';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const iso8601 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

/** The scenario's webhook trigger: answers 200 to a valid order, 401 to a bad secret, 400 to a malformed payload. */
function scenario(secret: string | undefined, findings: Findings, processed: Map<string, unknown>) {
  return (request: ReceivedRequest) => {
    const h = request.headers;
    findings.check(h['content-type'] === 'application/json', `Content-Type ${h['content-type']}`);
    findings.check(h['user-agent'] === 'PU-Observatory-Webhook/1.0', `User-Agent ${h['user-agent']}`);
    if (secret === undefined) findings.check(!('x-webhook-secret' in h), 'X-Webhook-Secret sent although no secret is configured');
    else if (h['x-webhook-secret'] !== secret) return { status: 401 };
    const body = JSON.parse(request.body);
    findings.check(JSON.stringify(Object.keys(body).slice(0, 4)) === '["event_type","source_app","request_id","submitted_at"]', `fixed fields first: ${Object.keys(body)}`);
    findings.check(body.event_type === 'order_submitted', `event_type ${body.event_type}`);
    findings.check(['pu_observatory', 'pu_ondemand_training'].includes(body.source_app), `source_app ${body.source_app}`);
    findings.check(uuid.test(body.request_id), `request_id ${body.request_id}`);
    findings.check(iso8601.test(body.submitted_at), `submitted_at ${body.submitted_at}`);
    findings.check(body.status === 'pending_review', `status ${body.status}`);
    for (const field of ['contact_email', 'company_name', 'newsletter_name', 'product_name']) findings.check(typeof body[field] === 'string', `${field} ${body[field]}`);
    const { pricing } = body;
    findings.check(typeof pricing?.amount === 'number' && pricing.currency === 'USD' && ['daily', 'weekly', 'monthly'].includes(pricing.cadence), `pricing ${JSON.stringify(pricing)}`);
    findings.check(typeof pricing?.price_per_user_monthly === 'number' && typeof pricing?.price_per_user_yearly === 'number' && typeof pricing?.breakdown === 'object', 'pricing per user and breakdown');
    // "Make.com should deduplicate events based on request_id."
    if (!processed.has(body.request_id)) processed.set(body.request_id, body);
    return { status: 200 };
  };
}

describe('the order form: receivers keep working unchanged', () => {
  const running: TestHeraldWithReceiver[] = [];
  after(async () => {
    for (const started of running) await started.stop();
  });

  async function orderFormHerald(secret: string | undefined) {
    const started = await startHeraldWithReceiver((receiver) => {
      const env = envBlock('order-form-env');
      assert.ok(env.HERALD_ROUTE_ORDER_URL && env.HERALD_ROUTE_ORDER_SECRET, 'the guide sets the URL and the secret');
      env.HERALD_ROUTE_ORDER_URL = `${receiver.url}/order-intent`;
      if (secret === undefined) delete env.HERALD_ROUTE_ORDER_SECRET;
      else env.HERALD_ROUTE_ORDER_SECRET = secret;
      return env;
    });
    running.push(started);
    return started;
  }

  test('every order arrives as the document specifies, once per request_id though a 500 made Herald retry', async () => {
    // A short legacy secret: the scenario only compares it.
    const secret = 'hunter2';
    const { herald, receiver } = await orderFormHerald(secret);
    const findings = new Findings();
    const processed = new Map<string, unknown>();
    const check = scenario(secret, findings, processed);
    receiver.respond('/order-intent', (request, index) => (index === 0 ? { status: 500 } : check(request)));

    const order = curlBody('order-form-event');
    const second = { ...order, id: '6fa459ea-ee8a-3ca4-894e-db77e160355e', data: { ...order.data, contact_email: 'other@example.com' } };
    for (const event of [order, second]) assert.equal((await herald.api('POST', '/v1/events', event)).status, 202);
    const requests = await receiver.waitFor('/order-intent', 3);

    assert.deepEqual(findings.problems, []);
    assert.ok(requests.every((r) => r.status === 200 || r.status === 500));
    assert.deepEqual(new Set(processed.keys()), new Set([order.id, second.id]));
    const first = JSON.parse(requests[0]!.body);
    const retried = requests.slice(1).map((r) => JSON.parse(r.body)).find((b) => b.request_id === first.request_id);
    assert.deepEqual(retried, first, 'the retry is the same order, request_id included');
    assert.equal((processed.get(order.id) as { source_app: string }).source_app, 'pu_observatory');
  });

  test('without WEBHOOK_SECRET no X-Webhook-Secret header is sent, and the scenario accepts the order', async () => {
    const { herald, receiver } = await orderFormHerald(undefined);
    const findings = new Findings();
    const processed = new Map<string, unknown>();
    receiver.respond('/order-intent', scenario(undefined, findings, processed));
    assert.equal((await herald.api('POST', '/v1/events', curlBody('order-form-event'))).status, 202);
    const [request] = await receiver.waitFor('/order-intent', 1);
    assert.equal(request!.status, 200);
    assert.deepEqual(findings.problems, []);
    assert.equal(processed.size, 1);
  });
});
