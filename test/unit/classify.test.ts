import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyStatus, messageIdFor, parseRetryAfter } from '../../src/delivery/classify.ts';
import { matchesEventType } from '../../src/endpoints/definition.ts';

test('2xx is delivered; 408, 429 and 5xx are retried; other 3xx and 4xx fail at once', () => {
  for (const status of [200, 201, 204, 299]) assert.equal(classifyStatus(status), 'delivered');
  for (const status of [408, 429, 500, 502, 503, 504]) assert.equal(classifyStatus(status), 'retry');
  for (const status of [301, 302, 307, 400, 401, 403, 404, 410, 413, 422]) assert.equal(classifyStatus(status), 'failed');
});

test('Retry-After is read as seconds or as an HTTP date', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('120', now), 120_000);
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:01:30 GMT', now), 90_000);
  assert.equal(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter(null, now), undefined);
});

test('webhook-id is stable for one event and differs across events and tenants', () => {
  assert.equal(messageIdFor('default', 'ord-1'), messageIdFor('default', 'ord-1'));
  assert.notEqual(messageIdFor('default', 'ord-1'), messageIdFor('default', 'ord-2'));
  assert.notEqual(messageIdFor('acme', 'ord-1'), messageIdFor('default', 'ord-1'));
  assert.match(messageIdFor('default', 'ord-1'), /^msg_[A-Za-z0-9_-]{27}$/);
});

test('event type filters: exact, family wildcard and catch-all', () => {
  assert.ok(matchesEventType('booking.created', 'booking.created'));
  assert.ok(!matchesEventType('booking.created', 'booking.cancelled'));
  assert.ok(matchesEventType('booking.*', 'booking.cancelled'));
  assert.ok(matchesEventType('rating.*', 'rating.created'));
  assert.ok(!matchesEventType('booking.*', 'bookings.created'));
  assert.ok(!matchesEventType('booking.*', 'booking'));
  assert.ok(matchesEventType('*', 'error.occurred'));
});
