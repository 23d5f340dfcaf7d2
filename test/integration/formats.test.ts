import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { verifyWebhook } from 'herald/receiver';
import { messageIdFor } from '../../src/delivery/classify.ts';
import { generateSecret } from '../../src/signing/index.ts';
import type { FormatName } from '../../src/formats/index.ts';
import { version } from '../../src/version.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';
import type { ReceivedRequest } from '../support/receiver.ts';

const tenant = 'matrix';
const event = {
  id: 'ord-42',
  type: 'order_submitted',
  occurredAt: '2025-01-15T10:30:00.000Z',
  data: { status: 'pending_review', contact_email: 'customer@example.com', pricing: { amount: 228, currency: 'USD' } },
  tenant,
};
const data = '{"status":"pending_review","contact_email":"customer@example.com","pricing":{"amount":228,"currency":"USD"}}';

/** Each format's body, byte for byte, for the event above (the booking format's given the time it was sent). */
const formats: Record<FormatName, { body: string | ((sentAt: string) => string); sourceApp?: string }> = {
  standard: { body: `{"type":"order_submitted","timestamp":"2025-01-15T10:30:00.000Z","data":${data}}` },
  make: {
    sourceApp: 'pu_observatory',
    body: '{"event_type":"order_submitted","source_app":"pu_observatory","request_id":"ord-42","submitted_at":"2025-01-15T10:30:00.000Z",'
      + '"status":"pending_review","contact_email":"customer@example.com","pricing":{"amount":228,"currency":"USD"}}',
  },
  flat: { body: '{"type":"order_submitted","status":"pending_review","contact_email":"customer@example.com","pricing":{"amount":228,"currency":"USD"}}' },
  booking: { body: (sentAt) => `{"type":"order_submitted","payload":${data},"event_id":"ord-42","sent_at":"${sentAt}"}` },
  envelope: { body: `{"event":"order_submitted","event_id":"ord-42","timestamp":"2025-01-15T10:30:00.000Z","data":${data},"metadata":{"tenant":"matrix"}}` },
};

const messageId = messageIdFor(tenant, event.id);
const hmacHex = (secret: string, body: string) => crypto.createHmac('sha256', secret).update(body).digest('hex');
const unixSeconds = /^\d{10}$/;
const header = (request: ReceivedRequest, name: string) => String(request.headers[name]);

/**
 * Each signature scheme: how the endpoint declares it, and the headers it must add for `body`
 * (beyond content-type, user-agent and the endpoint's own), checked without Herald's signing code.
 */
const signatures = {
  'standard-webhooks': {
    declared: 'standard-webhooks',
    secret: generateSecret(),
    expect(request: ReceivedRequest, body: string, secret: string) {
      assert.doesNotThrow(() => new Webhook(secret).verify(body, request.headers as Record<string, string>));
      assert.doesNotThrow(() => verifyWebhook(request.body, request.headers, secret));
      assert.match(header(request, 'webhook-timestamp'), unixSeconds);
      assert.match(header(request, 'webhook-signature'), /^v1,[A-Za-z0-9+/]{43}=$/);
      return { 'webhook-id': messageId, 'webhook-timestamp': request.headers['webhook-timestamp'], 'webhook-signature': request.headers['webhook-signature'] };
    },
  },
  'hmac-sha256': {
    declared: { scheme: 'hmac-sha256', header: 'X-Sonicus-Signature', headerPrefix: 'X-Sonicus-' },
    secret: 'sonicus-signing-key',
    expect(request: ReceivedRequest, body: string, secret: string) {
      assert.doesNotThrow(() => verifyWebhook(request.body, request.headers, secret, { scheme: 'hmac-sha256', header: 'X-Sonicus-Signature' }));
      assert.match(header(request, 'x-sonicus-timestamp'), unixSeconds);
      return {
        'x-sonicus-signature': `sha256=${hmacHex(secret, body)}`,
        'x-sonicus-event': 'order_submitted',
        'x-sonicus-event-id': messageId,
        'x-sonicus-timestamp': request.headers['x-sonicus-timestamp'],
      };
    },
  },
  'shared-secret': {
    declared: 'shared-secret',
    secret: 'make-scenario-secret',
    expect: (_request: ReceivedRequest, _body: string, secret: string) => ({ 'x-webhook-secret': secret }),
  },
  none: {
    declared: 'none',
    secret: undefined,
    expect: () => ({}),
  },
};

/** Added by the HTTP layer; no browser headers (sec-fetch-mode, accept-language, ...) on a server-to-server POST. */
const transportHeaders = new Set(['host', 'connection', 'content-length']);

const pairs = Object.keys(formats).flatMap((format) => Object.keys(signatures).map((signature) => ({
  format: format as keyof typeof formats,
  signature: signature as keyof typeof signatures,
  path: `/${format}/${signature}`,
})));

const { herald, receiver, createEndpoint, stop } = await startHeraldWithReceiver();
after(stop);

describe('every format with every signature scheme reaches a real receiver byte for byte', () => {
  before(async () => {
    for (const { format, signature, path } of pairs) {
      const { declared, secret } = signatures[signature];
      await createEndpoint({
        path, eventTypes: ['order_submitted'], tenant, format, signature: declared,
        sourceApp: formats[format].sourceApp, secret, headers: { 'X-Herald-Test': path },
      });
    }
    assert.equal((await herald.api('POST', '/v1/events', event)).status, 202);
    await Promise.all(pairs.map(({ path }) => receiver.waitFor(path, 1)));
  });

  for (const { format, signature, path } of pairs) {
    test(`${format} body signed with ${signature}`, () => {
      const [request, ...more] = receiver.received(path);
      assert.equal(more.length, 0);
      const { body } = formats[format];
      const sentAt = format === 'booking' ? String(JSON.parse(request!.body).sent_at) : '';
      // The time of this attempt: sent_at is no older than the request it arrived in.
      if (format === 'booking') assert.ok(Math.abs(request!.at - Date.parse(sentAt)) < 5_000, sentAt);
      const expectedBody = typeof body === 'string' ? body : body(sentAt);
      assert.equal(request!.body, expectedBody);
      assert.equal(request!.headers['content-length'], String(Buffer.byteLength(expectedBody)));
      const chosenByHerald = Object.fromEntries(Object.entries(request!.headers).filter(([name]) => !transportHeaders.has(name)));
      assert.deepEqual(chosenByHerald, {
        'content-type': 'application/json',
        'user-agent': `Herald/${version}`,
        'x-herald-test': path,
        // Every format and scheme: the deduplication id.
        'webhook-id': messageId,
        ...signatures[signature].expect(request!, expectedBody, signatures[signature].secret!),
      });
    });
  }

  test('sourceApp belongs to the make format only', async () => {
    const wrong = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/x'), format: 'standard', sourceApp: 'shop', tenant });
    assert.equal(wrong.status, 400);
    assert.deepEqual(wrong.body.errors, [{ field: 'sourceApp', message: 'only the "make" format sends source_app' }]);
  });
});
