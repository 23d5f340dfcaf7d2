/**
 * The booking app (docs/shared source 002), configured with the routes file of
 * docs/integrations.md section 2. Each receiver is a Make.com scenario behind one
 * MAKE_<FAMILY>_WEBHOOK_URL: it reads `{type, payload, event_id, sent_at}`, accepts the event
 * types routed to it, and deduplicates on event_id as the document recommends.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';
import type { ReceivedRequest } from '../support/receiver.ts';
import { curlBody, Findings, guideBlock } from './guide.ts';

const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** The URLs a deployment sets; the optional ones left unset fall back to the booking URL. */
const scenarios: Record<string, string[]> = {
  MAKE_SIGNUP_WEBHOOK_URL: ['signup'],
  MAKE_BOOKING_WEBHOOK_URL: ['booking.created', 'booking.rescheduled', 'ticket.created', 'error.occurred'],
  MAKE_CANCELLATION_WEBHOOK_URL: ['booking.cancelled'],
  MAKE_MESSAGE_WEBHOOK_URL: ['message.sent'],
  MAKE_RATING_WEBHOOK_URL: ['rating.created', 'rating.updated'],
};

const findings = new Findings();
/** event_id → how many times a scenario processed it (after deduplication, at most once). */
const processed = new Map<string, { type: string; payload: unknown; url: string }>();
const sentAts = new Map<string, string[]>();

const scenario = (variable: string) => (request: ReceivedRequest, index: number) => {
  findings.check(request.headers['content-type'] === 'application/json', `${variable}: Content-Type ${request.headers['content-type']}`);
  const body = JSON.parse(request.body);
  findings.check(JSON.stringify(Object.keys(body)) === '["type","payload","event_id","sent_at"]', `${variable}: fields ${Object.keys(body)}`);
  findings.check(scenarios[variable]!.includes(body.type), `${variable} got ${body.type}`);
  findings.check(typeof body.payload === 'object' && body.payload !== null, `${variable}: payload ${body.payload}`);
  findings.check(typeof body.event_id === 'string' && body.event_id.length > 0, `${variable}: event_id ${body.event_id}`);
  // sent_at is the time of sending: this request's, not the event's.
  findings.check(iso.test(body.sent_at) && Math.abs(Date.parse(body.sent_at) - request.at) < 5_000, `${variable}: sent_at ${body.sent_at}`);
  sentAts.set(body.event_id, [...(sentAts.get(body.event_id) ?? []), body.sent_at]);
  // Make.com is briefly down for the first booking: Herald retries it.
  if (variable === 'MAKE_BOOKING_WEBHOOK_URL' && index === 0) return { status: 503 };
  if (!processed.has(body.event_id)) processed.set(body.event_id, { type: body.type, payload: body.payload, url: variable });
  return { status: 200 };
};

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-booking-'));
const routesFile = path.join(dir, 'booking-routes.yaml');
fs.writeFileSync(routesFile, guideBlock('booking-routes'));
const { herald, receiver, stop } = await startHeraldWithReceiver((receiver) => {
  const env: Record<string, string> = { HERALD_ROUTES_FILE: routesFile };
  for (const variable of Object.keys(scenarios)) env[variable] = receiver.respond(`/${variable}`, scenario(variable));
  return env;
});
after(async () => {
  await stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('the booking app: receivers keep working unchanged', () => {
  test('every event type reaches the scenario its URL (or the fallback) names, in the wire format, each once', async () => {
    const events = [
      { id: 'evt-signup-1', type: 'signup', data: { user_id: 'u1', email: 'student@example.com', role: 'student' } },
      { id: 'evt-booking-1', type: 'booking.created', data: { order_id: 'o1', user_id: 'u1', currency: 'CAD', total_cad: 80, items: [{ appointment_id: 'a1', start_datetime: '2025-03-02T15:00:00Z' }] } },
      { id: 'evt-cancel-1', type: 'booking.cancelled', data: { appointment_id: 'a1', reason: 'sick' } },
      { id: 'evt-message-1', type: 'message.sent', data: { conversation_id: 'c1', sender_id: 'u1' } },
      { id: 'evt-reschedule-1', type: 'booking.rescheduled', data: { appointment_id: 'a1', new_start: '2025-03-03T15:00:00Z' } },
      { id: 'evt-rating-1', type: 'rating.created', data: { rating_id: 'r1', stars: 5 } },
      { id: 'evt-ticket-1', type: 'ticket.created', data: { ticket_id: 't1', subject: 'Refund' } },
      curlBody('booking-event'),
    ];
    for (const event of events) assert.equal((await herald.api('POST', '/v1/events', event)).status, 202, event.type);
    // One request per event, plus the retry of the first booking URL request.
    await receiver.waitFor('/MAKE_BOOKING_WEBHOOK_URL', 5, 60_000);
    for (const variable of ['MAKE_SIGNUP_WEBHOOK_URL', 'MAKE_CANCELLATION_WEBHOOK_URL', 'MAKE_MESSAGE_WEBHOOK_URL', 'MAKE_RATING_WEBHOOK_URL']) await receiver.waitFor(`/${variable}`, 1);

    assert.deepEqual(findings.problems, []);
    assert.equal(processed.size, events.length);
    for (const event of events) {
      const got = processed.get(event.id);
      assert.ok(got, `${event.type} was processed`);
      assert.equal(got.type, event.type);
      assert.deepEqual(got.payload, event.data);
      assert.ok(scenarios[got.url]!.includes(event.type));
    }
    const retried = [...sentAts.values()].find((times) => times.length === 2);
    assert.ok(retried && retried[0] !== retried[1], 'the retry carries the same event_id with its own sent_at');
  });
});
