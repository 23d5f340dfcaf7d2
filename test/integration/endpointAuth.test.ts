import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { eventWorkflowId } from '../../workflows/contract.ts';
import { CapturedLog } from '../support/capturedLog.ts';
import { deliveryIdsOf, waitForDeliveryStatus } from '../support/herald.ts';
import { heraldProcess } from '../support/heraldProcess.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';
import { historyText } from '../support/history.ts';

/**
 * A real OAuth2 token server: client credentials in HTTP basic, tokens `<client>-<n>` that live
 * `lifetimeS` seconds (per client), or HTTP 500 for a client named `broken`.
 */
async function startTokenServer(lifetimeS: Record<string, number>) {
  const issued: { client: string; secret: string; token: string; form: URLSearchParams }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk));
    req.on('end', () => {
      const [client = '', secret = ''] = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString().split(':').map(decodeURIComponent);
      if (client === 'broken') return void res.writeHead(500).end(`no token for ${secret}`);
      const token = `${client}-${issued.filter((i) => i.client === client).length + 1}`;
      issued.push({ client, secret, token, form: new URLSearchParams(body) });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: lifetimeS[client] ?? 3600 }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`,
    issuedTo: (client: string) => issued.filter((i) => i.client === client),
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

const CLIENT_SECRET = 'client-secret-never-shown-4f1c';
const log = new CapturedLog();
const tokens = await startTokenServer({ short: 2 });
const { herald, receiver, createEndpoint, stop } = await startHeraldWithReceiver({ LOG_LEVEL: 'debug' }, { logDestination: log });
after(async () => {
  await stop();
  await tokens.close();
});

const oauth2 = (clientId: string) => ({ type: 'oauth2-client-credentials', tokenUrl: tokens.url, clientId, clientSecret: CLIENT_SECRET, scope: 'webhooks:write' });
const post = (tenant: string, id: string) => herald.api('POST', '/v1/events', { tenant, id, type: 'order.paid', data: { id } }).then((r) => assert.equal(r.status, 202, JSON.stringify(r.body)));
/** The receiver accepts a bearer token the token server issued and the test has not revoked. */
const revoked = new Set<string>();
const acceptIssued = (client: string) => (request: { headers: http.IncomingHttpHeaders }) => {
  const token = String(request.headers.authorization ?? '').replace(/^Bearer /, '');
  return tokens.issuedTo(client).some((i) => i.token === token) && !revoked.has(token) ? { status: 200 } : { status: 401 };
};

describe('endpoint authentication', () => {
  test('oauth2: 10 deliveries share 1-2 tokens; after the 2 s lifetime a fresh one is fetched', async () => {
    const endpoint = await createEndpoint({ tenant: 'oa-short', path: '/oauth-short', replies: acceptIssued('short'), auth: oauth2('short') });
    assert.deepEqual(endpoint.auth, { type: 'oauth2-client-credentials', tokenUrl: tokens.url, clientId: 'short', scope: 'webhooks:write' });
    await Promise.all(Array.from({ length: 10 }, (_, i) => post('oa-short', `short-${i}`)));
    const requests = await receiver.waitFor('/oauth-short', 10);
    assert.ok(requests.every((r) => r.status === 200), 'every request carried a token the token server issued');
    const fetched = tokens.issuedTo('short').length;
    assert.ok(fetched >= 1 && fetched <= 2, `${fetched} token requests for 10 deliveries`);
    assert.equal(tokens.issuedTo('short')[0]!.form.get('grant_type'), 'client_credentials');
    assert.equal(tokens.issuedTo('short')[0]!.form.get('scope'), 'webhooks:write');
    assert.equal(tokens.issuedTo('short')[0]!.secret, CLIENT_SECRET);

    // Past the lifetime: the next delivery goes with a token fetched after it.
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    await post('oa-short', 'short-late');
    const [late] = (await receiver.waitFor('/oauth-short', 11)).slice(10);
    assert.equal(late!.headers.authorization, `Bearer ${tokens.issuedTo('short').at(-1)!.token}`);
    assert.equal(tokens.issuedTo('short').length, fetched + 1);
  });

  test('oauth2: a receiver answering 401 to a revoked token gets one retry with a fresh token, within the same attempt', async () => {
    await createEndpoint({ tenant: 'oa-revoked', path: '/oauth-revoked', replies: acceptIssued('revoked'), auth: oauth2('revoked') });
    await post('oa-revoked', 'before');
    await receiver.waitFor('/oauth-revoked', 1);
    for (const { token } of tokens.issuedTo('revoked')) revoked.add(token);
    await post('oa-revoked', 'after');
    const [id] = await deliveryIdsOf(herald, 'oa-revoked', 'after');
    const delivery = await waitForDeliveryStatus(herald, id!, 'delivered');
    assert.equal(delivery.attempts.length, 1);
    const [refused, accepted] = receiver.received('/oauth-revoked').slice(1);
    assert.deepEqual([refused!.status, refused!.headers.authorization], [401, 'Bearer revoked-1']);
    assert.deepEqual([accepted!.status, accepted!.headers.authorization], [200, 'Bearer revoked-2']);
    assert.equal(tokens.issuedTo('revoked').length, 2);
  });

  test('oauth2: a failing token server is its own error in the attempt log, retried like a connection failure', async () => {
    await createEndpoint({ tenant: 'oa-broken', path: '/oauth-broken', auth: oauth2('broken') });
    await post('oa-broken', 'e1');
    const [id] = await deliveryIdsOf(herald, 'oa-broken', 'e1');
    const delivery = await waitForDeliveryStatus(herald, id!, 'retrying');
    assert.equal(delivery.attempts[0]!.error, 'auth: token request failed: HTTP 500');
    assert.equal(receiver.received('/oauth-broken').length, 0);
  });

  test('basic: the receiver gets the credentials; reading the endpoint shows the username only', async () => {
    const endpoint = await createEndpoint({ tenant: 'basic', path: '/basic', auth: { type: 'basic', username: 'herald', password: 'basic-password-7d2e' } });
    assert.deepEqual((await herald.api('GET', `/v1/endpoints/${endpoint.id}?tenant=basic`)).body.auth, { type: 'basic', username: 'herald' });
    await post('basic', 'b1');
    const [request] = await receiver.waitFor('/basic', 1);
    assert.equal(request!.headers.authorization, `Basic ${Buffer.from('herald:basic-password-7d2e').toString('base64')}`);
  });

  test('the client secret never appears in a GET, a log line, the attempt log or the workflow history', async () => {
    const listed = await herald.api('GET', '/v1/endpoints?tenant=oa-short');
    const read = await herald.api('GET', `/v1/endpoints/${listed.body.data[0].id}?tenant=oa-short`);
    const deliveries = await herald.api('GET', '/v1/deliveries?tenant=oa-short&limit=100');
    const attemptLogs = await Promise.all(deliveries.body.data.map((d: { id: string }) => herald.api('GET', `/v1/deliveries/${d.id}`)));
    const histories = await Promise.all(['short-0', 'short-late'].map((id) => historyText(herald.client, eventWorkflowId('oa-short', id))));
    for (const [where, text] of [['GET list', listed.body], ['GET one', read.body], ['attempt log', attemptLogs.map((a) => a.body)], ['history', histories]] as const) {
      assert.ok(!JSON.stringify(text).includes(CLIENT_SECRET), `${where} shows the client secret`);
    }
    assert.ok(histories.every((h) => h.includes('short')), 'the histories were read');
    assert.ok(log.lines.length > 0 && !log.lines.some((line) => line.includes(CLIENT_SECRET) || line.includes('basic-password-7d2e')));
  });

  test('bad auth is refused naming the field; an Authorization static header beside it is refused', async () => {
    const refusals: [unknown, Record<string, unknown>, string][] = [
      [{ type: 'oauth2-client-credentials', tokenUrl: 'ftp://x', clientId: 'a', clientSecret: 'b' }, {}, 'auth.tokenUrl'],
      [{ type: 'oauth2-client-credentials', tokenUrl: tokens.url, clientId: 'a' }, {}, 'auth.clientSecret'],
      [{ type: 'basic', username: 'a:b', password: 'p' }, {}, 'auth.username'],
      [{ type: 'mtls', certificate: 'not a pem', privateKey: 'nor this' }, {}, 'auth.certificate'],
      [{ type: 'kerberos' }, {}, 'auth.type'],
      [{ type: 'basic', username: 'a', password: 'p' }, { headers: { Authorization: 'Bearer x' } }, 'headers.Authorization'],
    ];
    for (const [auth, extra, field] of refusals) {
      const refused = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/refused'), auth, ...extra });
      assert.equal(refused.status, 400, JSON.stringify(auth));
      assert.ok(refused.body.errors.some((e: { field: string }) => e.field === field), `${JSON.stringify(refused.body.errors)} names ${field}`);
    }
  });
});

describe('mtls', () => {
  test('an HTTPS receiver that requires a client certificate: delivered with mtls, refused without', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-mtls-'));
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    // The receiver's certificate (trusted by Herald through NODE_EXTRA_CA_CERTS) and the client's, each self-signed.
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', 'server.key', '-out', 'server.pem');
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=herald', '-keyout', 'client.key', '-out', 'client.pem');
    const read = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8');
    const arrivals: { authorized: boolean; subject: unknown }[] = [];
    const server = https.createServer({ key: read('server.key'), cert: read('server.pem'), ca: read('client.pem'), requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const socket = req.socket as TLSSocket;
      arrivals.push({ authorized: socket.authorized, subject: socket.getPeerCertificate().subject?.CN });
      req.resume().on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const herald2 = await heraldProcess('all', { NODE_EXTRA_CA_CERTS: path.join(dir, 'server.pem') });
    try {
      await herald2.start();
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const create = (auth: unknown) => herald2.post('/v1/endpoints', { tenant: 'mtls', url, auth }).then(async (r) => ({ status: r.status, body: await r.json() }));
      const withCertificate = await create({ type: 'mtls', certificate: read('client.pem'), privateKey: read('client.key') });
      assert.equal(withCertificate.status, 201, JSON.stringify(withCertificate.body));
      assert.deepEqual(withCertificate.body.auth, { type: 'mtls', certificate: read('client.pem') });
      const without = await create(null);
      const tested = async (id: string) => (await herald2.post(`/v1/endpoints/${id}/test?tenant=mtls`, {})).json();
      const delivered = await tested(withCertificate.body.id);
      assert.equal(delivered.status, 'delivered', JSON.stringify(delivered));
      assert.deepEqual(arrivals, [{ authorized: true, subject: 'herald' }]);
      const refused = await tested(without.body.id);
      assert.equal(refused.status, 'failed', JSON.stringify(refused));
      assert.equal(refused.statusCode, null);
      assert.equal(arrivals.length, 1, 'no request got through without the certificate');
    } finally {
      await herald2.remove();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
