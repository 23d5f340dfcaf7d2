import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { signerFor, standardWebhooksSignature } from '../../src/signing/index.ts';

// The example published in the Standard Webhooks specification.
const spec = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  messageId: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

test('the Standard Webhooks signature matches the specification\'s published example', () => {
  const { secret, signature, ...input } = spec;
  assert.equal(standardWebhooksSignature({ ...input, eventType: 'test', secrets: [secret] }), signature);
});

test('during a rotation every valid secret signs, space-separated, and an independent verifier accepts either', () => {
  const oldSecret = spec.secret;
  const newSecret = `whsec_${crypto.randomBytes(24).toString('base64')}`;
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = signerFor({ scheme: 'standard-webhooks' })({
    messageId: spec.messageId, eventType: 'order.paid', timestamp, body: spec.body, secrets: [newSecret, oldSecret],
  });
  assert.equal(headers['webhook-signature']!.split(' ').length, 2);
  for (const secret of [newSecret, oldSecret]) {
    assert.doesNotThrow(() => new Webhook(secret).verify(spec.body, headers));
  }
  const stranger = `whsec_${crypto.randomBytes(24).toString('base64')}`;
  assert.throws(() => new Webhook(stranger).verify(spec.body, headers));
});

test('hmac-sha256 sends sha256=<hex HMAC of the body> in the configured header, with prefixed event headers', () => {
  const headers = signerFor({ scheme: 'hmac-sha256', header: 'X-Signature', headerPrefix: 'X-Acme-' })({
    messageId: 'msg_1', eventType: 'invoice.paid', timestamp: 1700000000, body: '{"a":1}', secrets: ['erp-secret'],
  });
  assert.deepEqual(headers, {
    'X-Signature': `sha256=${crypto.createHmac('sha256', 'erp-secret').update('{"a":1}').digest('hex')}`,
    'X-Acme-Event': 'invoice.paid',
    'X-Acme-Event-ID': 'msg_1',
    'X-Acme-Timestamp': '1700000000',
  });
});

test('shared-secret sends the secret itself; none sends nothing', () => {
  const input = { messageId: 'm', eventType: 't', timestamp: 1, body: '{}', secrets: ['s3cret-value'] };
  assert.deepEqual(signerFor({ scheme: 'shared-secret' })(input), { 'X-Webhook-Secret': 's3cret-value' });
  assert.deepEqual(signerFor({ scheme: 'none' })(input), {});
});
