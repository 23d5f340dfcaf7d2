import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Db } from '../../src/storage/db.ts';
import { PortalSessionStore } from '../../src/portal/sessions.ts';
import { openTestMemoryDb } from '../support/suiteSetup.ts';

let db: Db;
let sessions: PortalSessionStore;
before(async () => {
  db = await openTestMemoryDb();
  sessions = new PortalSessionStore(db);
});
after(() => db.close());

const HOUR = 3_600_000;
/** Moves a session's end into the past, as the clock would after `expiresIn`. */
const expire = (id: string) => db.query(`UPDATE portal_sessions SET expires_at = now() - interval '1 second' WHERE id = $1`, [id]);

test('codes and tokens are stored as SHA-256 digests only', async () => {
  const created = (await sessions.create({ tenant: 't', id: 'hashed', capabilities: ['view'], endpointIds: null, operator: false, expiresInMs: HOUR }))!;
  const { token } = (await sessions.exchange(created.code))!;
  const stored = JSON.stringify(await db.query('SELECT * FROM portal_sessions'));
  assert.equal(stored.includes(created.code), false);
  assert.equal(stored.includes(token), false);
  assert.match(stored, /[0-9a-f]{64}/);
});

test('an expired link opens nothing, and an expired session\'s token is refused', async () => {
  const unopened = (await sessions.create({ tenant: 't', id: 'late-link', capabilities: ['view'], endpointIds: null, operator: false, expiresInMs: HOUR }))!;
  await expire('late-link');
  assert.equal(await sessions.exchange(unopened.code), undefined);

  const opened = (await sessions.create({ tenant: 't', id: 'late-session', capabilities: ['view'], endpointIds: null, operator: false, expiresInMs: HOUR }))!;
  const { token } = (await sessions.exchange(opened.code))!;
  assert.equal((await sessions.authenticate(token))?.id, 'late-session');
  await expire('late-session');
  assert.equal(await sessions.authenticate(token), undefined);
  assert.equal(await sessions.revoke('t', 'late-session'), false, 'nothing live is left to revoke');
});

test('a code is spent once even when two exchanges race', async () => {
  const { code } = (await sessions.create({ tenant: 't', capabilities: ['view'], endpointIds: null, operator: false, expiresInMs: HOUR }))!;
  const answers = await Promise.all([sessions.exchange(code), sessions.exchange(code)]);
  assert.equal(answers.filter(Boolean).length, 1);
});
