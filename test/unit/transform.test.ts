import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildRequest, maskSecrets, type RequestEndpoint } from '../../src/delivery/request.ts';
import { formatNames, formats } from '../../src/formats/index.ts';
import { compileTransform, EVALUATION_TIMEOUT_MS, sampleInput, TransformError } from '../../src/transform/index.ts';
import { transformProblem } from '../../src/sandbox/transform.ts';
import type { HeraldEvent } from '../../workflows/contract.ts';

const input = sampleInput({ id: 'ep_1', sourceApp: null, tenant: 'acme', eventTypes: ['order.*'] });

test('hostile expressions are stopped within their bounds, each with a clear message', async () => {
  const hostile: Record<string, [string, RegExp]> = {
    'endless recursion': ['($f := function($n) { $f($n + 1) }; $f(0))', /took longer than|nested deeper than/],
    'a long loop': ['$sum([1..99999].($ * $ * $))', /took longer than/],
    'a huge sequence': ['[1..10000000]', /sequence of more than/],
    'a doubling string': ['$reduce([1..40], function($s, $i) { $s & $s }, "xxxxxxxx")', /string longer than/],
    'a gigantic pad': ['$pad("", 900000000)', /\$pad width over/],
    'a regex literal': ['$match("aaaaaaaaaaaaaaaaaaaaaaaaaaaa!", /^(a+)+$/)', /regular expressions are not allowed/],
    'a regex built by $eval': ['$eval("$match(\\"aaaa!\\", /^(a+)+$/)")', /regular expressions are not allowed/],
  };
  // The sandbox's threads start on first use: not part of any expression's time.
  await transformProblem({ body: '1' }, input);
  for (const [what, [body, message]] of Object.entries(hostile)) {
    const started = Date.now();
    const problem = await transformProblem({ body }, input);
    assert.ok(problem, what);
    assert.equal(problem.field, 'transform.body', what);
    assert.match(problem.message, message, what);
    assert.ok(Date.now() - started < EVALUATION_TIMEOUT_MS * 4, `${what} took ${Date.now() - started} ms`);
  }
});

test('a syntax error names the field and the position', async () => {
  assert.throws(() => compileTransform({ headers: { 'X-Id': 'event.id &' } }), (err: unknown) => {
    assert.ok(err instanceof TransformError);
    assert.equal(err.field, 'transform.headers.X-Id');
    assert.equal(typeof err.position, 'number');
    return true;
  });
});

const event: HeraldEvent = { tenant: 'acme', id: 'ord-1', type: 'order_submitted', occurredAt: '2025-01-15T10:30:00.000Z', data: { total: 1 } };
const endpoint: RequestEndpoint = {
  id: 'ep_1', url: 'https://hook.example/x', format: 'make', signature: { scheme: 'shared-secret' }, headers: { 'User-Agent': 'PU-Observatory-Webhook/1.0' },
  sourceApp: 'pu_observatory', transform: null, secrets: [''],
};
const attempt = { number: 2, sentAt: new Date('2025-01-15T10:30:05.000Z'), webhookId: 'msg_1' };

test('buildRequest: only the headers Herald means, the User-Agent settable, no secret header without a secret', async () => {
  const request = await buildRequest({ event, endpoint, attempt });
  assert.deepEqual(request.headers, { 'user-agent': 'PU-Observatory-Webhook/1.0', 'content-type': 'application/json', 'webhook-id': 'msg_1' });
  const withSecret = await buildRequest({ event, endpoint: { ...endpoint, secrets: ['abc'] }, attempt });
  assert.equal(withSecret.headers['x-webhook-secret'], 'abc');
  assert.equal(maskSecrets(withSecret, endpoint.signature).headers['x-webhook-secret'], '[masked]');
});

test('buildRequest: a transform shapes the body the signature covers, and may not set the signature header', async () => {
  const signature = { scheme: 'hmac-sha256' as const, header: 'X-Signature', headerPrefix: 'X-App-' };
  const transformed = { ...endpoint, signature, secrets: ['a-long-enough-key'], transform: { body: '{ "n": attempt.number, "at": attempt.sentAt }', headers: { 'X-App-Timestamp': 'attempt.sentAt' } } };
  const request = await buildRequest({ event, endpoint: transformed, attempt });
  assert.equal(request.body.toString('utf8'), '{"n":2,"at":"2025-01-15T10:30:05.000Z"}');
  assert.equal(request.headers['x-app-timestamp'], '2025-01-15T10:30:05.000Z');
  assert.equal(request.headers['x-app-event-id'], 'msg_1');
  const forged = { ...transformed, transform: { headers: { 'X-Signature': '"sha256=forged"' } } };
  await assert.rejects(buildRequest({ event, endpoint: forged, attempt }), TransformError);
});

test('buildRequest: a large event serialised once for its attempts is still, byte for byte, what its format makes of that very event', async () => {
  // Over the size whose bodies are kept for the next attempts; not all ASCII, so bytes and characters differ.
  const large = (tenant: string, text: string): HeraldEvent => ({ ...event, tenant, data: { text: text.repeat(40_000), note: 'crème brûlée 🍮' } });
  const expected = (e: HeraldEvent, ep: RequestEndpoint, sentAt: Date) => JSON.stringify(formats[ep.format](e, ep, { sentAt }));
  const acme = large('acme', 'abc');
  // The same id posted again (after erasure) with other data, and the same id and data in another tenant: other objects.
  const others = [large('acme', 'xyz'), large('globex', 'abc')];
  for (const format of formatNames) {
    for (const sourceApp of format === 'make' ? ['shop', 'crm', null] : [null]) {
      const ep = { ...endpoint, format, sourceApp };
      for (const [number, e] of [acme, acme, ...others, acme].entries()) {
        const at = { ...attempt, number: number + 1, sentAt: new Date(attempt.sentAt.getTime() + number * 1000) };
        const request = await buildRequest({ event: e, endpoint: ep, attempt: at });
        // Compared as bytes, so a mismatch names the case instead of printing two 120 KB bodies.
        assert.ok(request.body.equals(Buffer.from(expected(e, ep, at.sentAt))), `${format} ${sourceApp} ${e.tenant} attempt ${at.number}`);
      }
    }
  }
});

test('a result whose objects share their parts is size-checked before it is serialised: refused as over 1 MiB, not stopped at the deadline', async () => {
  // 2^28 objects in 28 steps: serialising it would take longer than any deadline.
  const body = `($a := "x"; ${'$a := {"l": $a, "r": $a}; '.repeat(28)}$a)`;
  assert.deepEqual(await transformProblem({ body }, input), { field: 'transform.body', message: 'gave a body over 1048576 bytes', onSample: true });
});
