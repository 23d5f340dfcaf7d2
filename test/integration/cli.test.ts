import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { heraldCliArgs } from '../../ops/heraldMain.ts';
import { eventually } from '../support/eventually.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

const bin = fileURLToPath(new URL('../../bin/herald.js', import.meta.url));
const apiKey = 'cli-test-key-0123456789';

const { herald, receiver, stop } = await startHeraldWithReceiver({ HERALD_API_KEY: apiKey, HERALD_ALLOW_PRIVATE_TARGETS: 'true' });
after(stop);

describe('the herald CLI against a running Herald', () => {
  /**
   * Runs `herald ...args` as a user would, against the test Herald unless `env` says otherwise: prebuilt when run by
   * test/run.ts (heraldCliArgs), or, with `asInstalled`, through bin/herald.js as `npx herald` runs it.
   */
  function cli(args: string[], env: Record<string, string> = {}, asInstalled = false): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, asInstalled ? [bin, ...args] : heraldCliArgs(args), { env: { ...process.env, HERALD_URL: herald.apiUrl, HERALD_API_KEY: apiKey, ...env } }, (err, stdout, stderr) => {
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      });
    });
  }

  test('endpoints create registers an endpoint and prints it with its secret; endpoints list shows it', async () => {
    const url = receiver.script('/cli-orders');
    const created = await cli(['endpoints', 'create', '--url', url, '--events', 'order.created, order.paid', '--policy', '{"schedule":["1s"]}', '--tenant', 'cli'], {}, true);
    assert.equal(created.code, 0, created.stderr);
    const endpoint = JSON.parse(created.stdout);
    assert.match(endpoint.id, /^ep_/);
    assert.match(endpoint.secret, /^whsec_/);
    assert.deepEqual(endpoint.eventTypes, ['order.created', 'order.paid']);
    assert.deepEqual(endpoint.retryPolicy, { schedule: ['1s'] });

    const listed = await cli(['endpoints', 'list', '--tenant', 'cli']);
    assert.equal(listed.code, 0, listed.stderr);
    const [header, ...rows] = listed.stdout.trimEnd().split('\n');
    assert.match(header!, /^ID\s+URL\s+EVENTS\s+ENABLED/);
    assert.equal(rows.length, 1);
    assert.match(rows[0]!, new RegExp(`^${endpoint.id}\\s+${url}\\s+order\\.created,order\\.paid\\s+true`));
    assert.ok(!listed.stdout.includes(endpoint.secret), 'the list never shows secrets');

    const asJson = await cli(['endpoints', 'list', '--tenant', 'cli', '--json']);
    assert.deepEqual(JSON.parse(asJson.stdout).map((e: { id: string }) => e.id), [endpoint.id]);
  });

  test('events send is delivered, and deliveries list, show and replay follow it', async () => {
    const url = receiver.script('/cli-bookings');
    const endpoint = JSON.parse((await cli(['endpoints', 'create', '--url', url, '--events', 'booking.*', '--tenant', 'cli-send'])).stdout);
    const sent = await cli(['events', 'send', '--type', 'booking.created', '--data', '{"booking":42}', '--id', 'bk-42', '--tenant', 'cli-send']);
    assert.equal(sent.code, 0, sent.stderr);
    assert.deepEqual(JSON.parse(sent.stdout), { eventId: 'bk-42', workflowId: 'event:cli-send:bk-42', status: 'accepted' });
    const [request] = await receiver.waitFor('/cli-bookings', 1);
    assert.deepEqual(JSON.parse(request!.body).data, { booking: 42 });

    const deliveryId = `delivery:cli-send:bk-42:${endpoint.id}`;
    // The attempt log has it once the attempt has reported.
    await eventually(() => herald.api('GET', `/v1/deliveries?tenant=cli-send&status=delivered`, undefined, { authorization: `Bearer ${apiKey}` }), (r) => r.body.data.length === 1);
    const listed = await cli(['deliveries', 'list', '--tenant', 'cli-send', '--status', 'delivered', '--endpoint', endpoint.id]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout.split('\n')[1]!, new RegExp(`^${deliveryId}\\s+delivered\\s+1\\s+-\\s+booking\\.created`));
    assert.equal((await cli(['events', 'send', '--type', 'booking.created', '--id', 'bk-43', '--tags', 'vip, region:eu', '--channels', 'eu', '--tenant', 'cli-send'])).code, 0);
    const tagged = await cli(['deliveries', 'list', '--tenant', 'cli-send', '--tag', 'vip', '--json']);
    assert.deepEqual(JSON.parse(tagged.stdout).data.map((d: { eventId: string; tags: string[] }) => [d.eventId, d.tags]), [['bk-43', ['vip', 'region:eu']]]);

    const shown = await cli(['deliveries', 'show', deliveryId]);
    assert.equal(shown.code, 0, shown.stderr);
    const status = JSON.parse(shown.stdout);
    assert.equal(status.status, 'delivered');
    assert.deepEqual(status.attempts.map((a: { statusCode: number }) => a.statusCode), [200]);

    const replayed = await cli(['deliveries', 'replay', deliveryId]);
    assert.equal(replayed.code, 0, replayed.stderr);
    assert.equal(JSON.parse(replayed.stdout).id, deliveryId);
    await receiver.waitFor('/cli-bookings', 3);

  });

  test('endpoints stats shows an endpoint\'s attempts, success rate and latency over a window', async () => {
    const url = receiver.script('/cli-stats', { status: 503 }, { status: 200 });
    const endpoint = JSON.parse((await cli(['endpoints', 'create', '--url', url, '--events', 'stats.*', '--policy', '{"schedule":["1s"]}', '--tenant', 'cli-stats'])).stdout);
    assert.equal((await cli(['events', 'send', '--type', 'stats.sent', '--id', 'st-1', '--tenant', 'cli-stats'])).code, 0);
    // A 503, then a 200 a second later.
    const stats = await eventually(async () => {
      const shown = await cli(['endpoints', 'stats', endpoint.id, '--window', '1h', '--tenant', 'cli-stats']);
      assert.equal(shown.code, 0, shown.stderr);
      return JSON.parse(shown.stdout);
    }, (s) => s.attempts === 2);
    assert.deepEqual({ ...stats, since: undefined, latencyMs: undefined }, { window: '1h', since: undefined, attempts: 2, delivered: 1, failed: 1, successRate: 0.5, latencyMs: undefined });
    assert.ok(stats.latencyMs.p50 >= 0 && stats.latencyMs.p50 <= stats.latencyMs.p95 && stats.latencyMs.p95 <= stats.latencyMs.p99, JSON.stringify(stats.latencyMs));
    const wrongWindow = await cli(['endpoints', 'stats', endpoint.id, '--window', '2w', '--tenant', 'cli-stats']);
    assert.equal(wrongWindow.code, 1);
    assert.match(wrongWindow.stderr, /window/);
  });

  test('portal link prints a link that opens a session once; portal revoke ends it', async () => {
    const linked = await cli(['portal', 'link', '--tenant', 'cli-portal', '--capabilities', 'view,replay', '--session-id', 'cli-session', '--expires-in', '2h']);
    assert.equal(linked.code, 0, linked.stderr);
    const [url, note] = linked.stdout.trimEnd().split('\n');
    assert.match(url!, new RegExp(`^${herald.apiUrl}/portal/\\?tenant=cli-portal#code=hpc_`));
    assert.match(note!, /session cli-session, single use, expires/);
    const code = new URL(url!).hash.slice('#code='.length);
    const opened = await herald.api('POST', '/v1/portal/exchange', { code });
    assert.deepEqual([opened.status, opened.body.tenant, opened.body.capabilities], [200, 'cli-portal', ['view', 'replay']]);
    const session = { authorization: `Bearer ${opened.body.token}` };
    assert.equal((await herald.api('GET', '/v1/deliveries', undefined, session)).status, 200);

    const revoked = await cli(['portal', 'revoke', 'cli-session', '--tenant', 'cli-portal']);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await herald.api('GET', '/v1/deliveries', undefined, session)).status, 401);
  });

  test('a rejected request prints the problem and each failing field, and exits 1', async () => {
    const invalid = await cli(['events', 'send', '--type', 'not a type', '--id', 'has space']);
    assert.equal(invalid.code, 1);
    assert.equal(invalid.stdout, '');
    assert.match(invalid.stderr, /^herald: 400 Invalid request: 2 invalid fields in body\n {2}(id|type): /);
    assert.match(invalid.stderr, /\n {2}type: dot-separated words/);

    const unauthorized = await cli(['endpoints', 'list'], { HERALD_API_KEY: 'wrong-key-0123456789' });
    assert.equal(unauthorized.code, 1);
    assert.match(unauthorized.stderr, /^herald: 401 Unauthorized: a valid "Authorization: Bearer <key>" header is required/);

    const missing = await cli(['deliveries', 'show', 'delivery:cli:nope:ep_nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^herald: 404 Not Found: delivery delivery:cli:nope:ep_nope does not exist/);
  });

  test('mistakes on the command line exit 2 with the usage; an unreachable API exits 1', async () => {
    const noType = await cli(['events', 'send', '--data', '{}']);
    assert.equal(noType.code, 2);
    assert.match(noType.stderr, /^herald: events send needs --type\n\nusage: herald/);
    const badJson = await cli(['events', 'send', '--type', 'a.b', '--data', '{nope']);
    assert.equal(badJson.code, 2);
    assert.match(badJson.stderr, /^herald: --data is not valid JSON/);
    const unknown = await cli(['deliveries', 'delete', 'x']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^herald: unknown command 'deliveries delete'/);
    const unreachable = await cli(['endpoints', 'list'], { HERALD_URL: 'http://127.0.0.1:9' });
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /^herald: cannot reach Herald at http:\/\/127\.0\.0\.1:9/);
  });
});
