import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import express from 'express';
// Through the package's own export, as a receiver's code imports it.
import { verifyWebhook, verifyWebhookMiddleware, WebhookVerificationError } from 'herald/receiver';
import { generateSecret, signerFor } from '../../src/signing/index.ts';

// The example published in the Standard Webhooks specification.
const spec = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  body: '{"test": 2432232314}',
  headers: {
    'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
    'webhook-timestamp': '1614265330',
    'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
  },
  now: new Date(1614265330 * 1000),
};

/** Headers as Herald's signer makes them for this moment. */
function signedByHerald(body: string, secrets: string[], scheme: 'standard-webhooks' | 'hmac-sha256' = 'standard-webhooks') {
  return signerFor(scheme === 'hmac-sha256' ? { scheme, header: 'X-Erp-Signature' } : { scheme })({
    messageId: 'msg_herald', eventType: 'order.paid', timestamp: Math.floor(Date.now() / 1000), body, secrets,
  });
}

const rejects = (fn: () => void, reason: RegExp) => assert.throws(fn, (err) => err instanceof WebhookVerificationError && reason.test(err.message));

describe('verifyWebhook', () => {
  test('accepts the Standard Webhooks specification example', () => {
    assert.doesNotThrow(() => verifyWebhook(spec.body, spec.headers, spec.secret, { now: spec.now }));
    assert.doesNotThrow(() => verifyWebhook(Buffer.from(spec.body), new Headers(spec.headers), [spec.secret], { now: spec.now }));
  });

  test('accepts Herald\'s own signatures with either secret during a rotation', () => {
    const [oldSecret, newSecret] = [generateSecret(), generateSecret()];
    const body = '{"type":"order.paid","data":{"total":42}}';
    const headers = signedByHerald(body, [newSecret, oldSecret]);
    assert.doesNotThrow(() => verifyWebhook(body, headers, oldSecret));
    assert.doesNotThrow(() => verifyWebhook(body, headers, newSecret));
    assert.doesNotThrow(() => verifyWebhook(body, signedByHerald(body, [newSecret]), [oldSecret, newSecret]));
  });

  test('rejects a tampered body, a wrong secret, missing headers and a stale or future timestamp', () => {
    rejects(() => verifyWebhook('{"test": 2432232315}', spec.headers, spec.secret, { now: spec.now }), /no signature matches/);
    rejects(() => verifyWebhook(spec.body, spec.headers, generateSecret(), { now: spec.now }), /no signature matches/);
    rejects(() => verifyWebhook(spec.body, { ...spec.headers, 'webhook-id': 'msg_other' }, spec.secret, { now: spec.now }), /no signature matches/);
    rejects(() => verifyWebhook(spec.body, { ...spec.headers, 'webhook-signature': undefined }, spec.secret, { now: spec.now }), /missing webhook-signature/);
    rejects(() => verifyWebhook(spec.body, spec.headers, spec.secret), /too far from now/);
    rejects(() => verifyWebhook(spec.body, spec.headers, spec.secret, { now: new Date((1614265330 + 301) * 1000) }), /too far from now/);
    rejects(() => verifyWebhook(spec.body, spec.headers, spec.secret, { now: new Date((1614265330 - 301) * 1000) }), /too far from now/);
    assert.doesNotThrow(() => verifyWebhook(spec.body, spec.headers, spec.secret, { now: new Date((1614265330 + 301) * 1000), toleranceSeconds: 600 }));
    rejects(() => verifyWebhook(spec.body, spec.headers, [], { now: spec.now }), /no secret/);
  });

  test('hmac-sha256: accepts sha256=<hex> of the body in the configured header, rejects anything else', () => {
    const body = '{"event":"invoice.created"}';
    const headers = signedByHerald(body, ['erp-secret-1234']);
    const erp = signedByHerald(body, ['erp-secret-1234'], 'hmac-sha256');
    const expected = `sha256=${crypto.createHmac('sha256', 'erp-secret-1234').update(body).digest('hex')}`;
    assert.equal(erp['X-Erp-Signature'], expected);
    assert.doesNotThrow(() => verifyWebhook(body, { 'x-erp-signature': expected }, 'erp-secret-1234', { scheme: 'hmac-sha256', header: 'X-Erp-Signature' }));
    assert.doesNotThrow(() => verifyWebhook(body, { 'x-signature': expected }, ['old', 'erp-secret-1234'], { scheme: 'hmac-sha256' }));
    rejects(() => verifyWebhook(`${body} `, { 'x-signature': expected }, 'erp-secret-1234', { scheme: 'hmac-sha256' }), /does not match/);
    rejects(() => verifyWebhook(body, { 'x-signature': expected }, 'other-secret', { scheme: 'hmac-sha256' }), /does not match/);
    rejects(() => verifyWebhook(body, headers, 'erp-secret-1234', { scheme: 'hmac-sha256' }), /missing X-Signature/);
  });
});

describe('verifyWebhookMiddleware on a real Express server', () => {
  const secret = generateSecret();
  let url: string;
  let close: () => void;
  before(async () => {
    const app = express();
    app.post('/hooks', verifyWebhookMiddleware(secret), (req, res) => void res.json({ received: req.body }));
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
    close = () => server.close();
  });
  after(() => close?.());

  const post = (body: string, headers: Record<string, string>) =>
    fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

  test('passes a signed request on with its parsed body', async () => {
    const body = '{"type":"order.paid","data":{"total":42}}';
    const response = await post(body, signedByHerald(body, [secret]));
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { received: JSON.parse(body) });
  });

  test('answers 401 problem+json to a request that does not verify', async () => {
    const body = '{"type":"order.paid"}';
    const response = await post('{"type":"order.refunded"}', signedByHerald(body, [secret]));
    assert.equal(response.status, 401);
    assert.equal(response.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal((await response.json()).detail, 'no signature matches the body with any of the secrets');
    assert.equal((await post(body, {})).status, 401);
  });
});
