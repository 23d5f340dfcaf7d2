import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { CapturedLog } from '../support/capturedLog.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

const fields = (body: { errors?: { field: string }[] }) => (body.errors ?? []).map((e) => e.field);

const log = new CapturedLog();
const { herald, receiver, stop } = await startHeraldWithReceiver({ LOG_LEVEL: 'debug' }, { logDestination: log });
after(stop);

describe('hostile endpoint settings', () => {
  test('static headers that frame or route the request, or are not HTTP tokens, are refused at create and PATCH, naming the header', async () => {
    const url = receiver.script('/refused');
    for (const name of ['Host', 'Content-Type', 'content-length', 'Transfer-Encoding', 'Connection', 'Upgrade', 'X-Nul\0', 'X Bad', 'X:Colon', 'X-Line\r\nInjected', 'webhook-id']) {
      const refused = await herald.api('POST', '/v1/endpoints', { url, headers: { [name]: 'v' } });
      assert.equal(refused.status, 400, JSON.stringify(name));
      assert.deepEqual(fields(refused.body), [`headers.${name}`], JSON.stringify(name));
    }
    // The last: a value that would read as sealed at rest (HERALD_PAYLOAD_KEYS), and so fail every attempt.
    for (const value of ['a\r\nX-Injected: 1', 'nul\0', 'euro €', 'herald-enc:v1:k1:AAAA']) {
      const refused = await herald.api('POST', '/v1/endpoints', { url, headers: { 'X-Token': value } });
      assert.equal(refused.status, 400, JSON.stringify(value));
      assert.deepEqual(fields(refused.body), ['headers.X-Token']);
    }
    const created = await herald.api('POST', '/v1/endpoints', { url, headers: { 'X_Api.Key': 'token' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const patched = await herald.api('PATCH', `/v1/endpoints/${created.body.id}`, { headers: { 'Transfer-Encoding': 'chunked' } });
    assert.equal(patched.status, 400);
    assert.deepEqual(fields(patched.body), ['headers.Transfer-Encoding']);
  });

  test('the HMAC signature header and its prefix are refused when reserved or not a header name', async () => {
    const url = receiver.script('/signature');
    for (const [signature, field] of [
      [{ scheme: 'hmac-sha256', header: 'Content-Type' }, 'signature.header'],
      [{ scheme: 'hmac-sha256', header: 'Host' }, 'signature.header'],
      [{ scheme: 'hmac-sha256', header: 'X-Sig\0' }, 'signature.header'],
      [{ scheme: 'hmac-sha256', headerPrefix: 'X App-' }, 'signature.headerPrefix'],
      [{ scheme: 'hmac-sha256', headerPrefix: 'X-\r\n' }, 'signature.headerPrefix'],
    ] as const) {
      const refused = await herald.api('POST', '/v1/endpoints', { url, signature, secret: 'a-shared-hmac-key' });
      assert.equal(refused.status, 400, JSON.stringify(signature));
      assert.deepEqual(fields(refused.body), [field], JSON.stringify(signature));
    }
  });

  test('a URL with credentials is refused, and the password appears neither in the answer nor in the log', async () => {
    const url = receiver.script('/userinfo').replace('http://', 'http://deploy:hunter2-secret@');
    const refused = await herald.api('POST', '/v1/endpoints', { url });
    assert.equal(refused.status, 400);
    assert.deepEqual(fields(refused.body), ['url']);
    const created = await herald.api('POST', '/v1/endpoints', { url: receiver.script('/userinfo') });
    const patched = await herald.api('PATCH', `/v1/endpoints/${created.body.id}`, { url });
    assert.deepEqual([patched.status, fields(patched.body)], [400, ['url']]);
    assert.ok(!JSON.stringify([refused.body, patched.body]).includes('hunter2'));
    assert.ok(!log.lines.some((line) => line.includes('hunter2')));
  });

  test('static header values read back masked everywhere, while the receiver still gets them', async () => {
    const url = receiver.script('/masked');
    const headers = { Authorization: 'Bearer receiver-credential', 'X-Region': 'eu' };
    const created = await herald.api('POST', '/v1/endpoints', { url, headers, eventTypes: ['masked.*'] });
    assert.equal(created.status, 201);
    const masked = { Authorization: '********', 'X-Region': '********' };
    assert.deepEqual(created.body.headers, masked);
    assert.deepEqual((await herald.api('GET', `/v1/endpoints/${created.body.id}`)).body.headers, masked);
    const listed = (await herald.api('GET', '/v1/endpoints?limit=200')).body.data.find((e: { id: string }) => e.id === created.body.id);
    assert.deepEqual(listed.headers, masked);
    // Read-modify-write with the masked values keeps the stored ones.
    const patched = await herald.api('PATCH', `/v1/endpoints/${created.body.id}`, { headers: { ...masked, 'X-Region': 'us' } });
    assert.deepEqual(patched.body.headers, masked);

    const tested = await herald.api('POST', `/v1/endpoints/${created.body.id}/test`);
    assert.equal(tested.body.status, 'delivered', JSON.stringify(tested.body));
    const [request] = receiver.received('/masked');
    assert.equal(request!.headers.authorization, 'Bearer receiver-credential');
    assert.equal(request!.headers['x-region'], 'us');
    assert.ok(!log.lines.some((line) => line.includes('receiver-credential')));
  });
});
