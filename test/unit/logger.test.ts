import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../src/logger.ts';

function logOnce(fields: Record<string, unknown>): Record<string, any> {
  let written = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      written += chunk.toString('utf8');
      done();
    },
  });
  createLogger('info', destination).info(fields, 'probe');
  return JSON.parse(written);
}

test('credentials are censored at any depth and in any letter case', () => {
  const line = logOnce({
    headers: { 'X-Webhook-Secret': 's3cret', 'X-Acme-Signature': 'sha256=abc', 'webhook-signature': 'v1,xyz', 'content-type': 'application/json' },
    request: { headers: { Authorization: 'Bearer hk_1' } },
    endpoint: { id: 'ep_1', secrets: ['whsec_a', 'whsec_b'], previous_secret: 'whsec_c', signature: { scheme: 'hmac-sha256', header: 'X-Signature' } },
    apiKey: 'hk_2',
    deep: { a: { b: { c: { token: 't' } } } },
  });
  assert.deepEqual(line.headers, {
    'X-Webhook-Secret': '[redacted]', 'X-Acme-Signature': '[redacted]', 'webhook-signature': '[redacted]', 'content-type': 'application/json',
  });
  assert.equal(line.request.headers.Authorization, '[redacted]');
  assert.deepEqual(line.endpoint, {
    id: 'ep_1', secrets: '[redacted]', previous_secret: '[redacted]', signature: { scheme: 'hmac-sha256', header: 'X-Signature' },
  });
  assert.equal(line.apiKey, '[redacted]');
  assert.equal(line.deep.a.b.c.token, '[redacted]');
});

test('errors and dates keep their usual serialization', () => {
  const line = logOnce({ err: new Error('connection refused'), at: new Date('2030-01-01T00:00:00Z') });
  assert.equal(line.err.message, 'connection refused');
  assert.equal(line.err.type, 'Error');
  assert.equal(line.at, '2030-01-01T00:00:00.000Z');
});
