/**
 * The portal in a real browser (Chromium from @sparticuz/chromium), against a real Herald and a
 * real receiver. Keeps a screenshot of each page in docs/portal/.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../support/eventually.ts';
import type { TestHerald } from '../support/herald.ts';
import { everyCapability, startPortalInBrowser, type PortalInBrowser } from '../support/portalBrowser.ts';
import type { Receiver } from '../support/receiver.ts';

const ADMIN_KEY = 'admin-key-for-the-portal-browser-test';

describe('the portal in a browser', () => {
  let portal: PortalInBrowser;
  let herald: TestHerald;
  let receiver: Receiver;
  before(async () => {
    portal = await startPortalInBrowser(ADMIN_KEY);
    ({ herald, receiver } = portal);
  });
  after(() => portal?.stop());
  const admin: PortalInBrowser['admin'] = (...args) => portal.admin(...args);
  const link: PortalInBrowser['link'] = (...args) => portal.link(...args);
  const open: PortalInBrowser['open'] = (...args) => portal.open(...args);
  const heading: PortalInBrowser['heading'] = (...args) => portal.heading(...args);
  const shoot: PortalInBrowser['shoot'] = (...args) => portal.shoot(...args);
  const assertAccessible: PortalInBrowser['assertAccessible'] = (...args) => portal.assertAccessible(...args);

  test('a link opens the portal once; opened again it is refused; a revoked session stops at the next request', async () => {
    const url = await link('default', { sessionId: 'browser-once' });
    const first = await open(url);
    await heading(first.page, 'Endpoints');
    assert.equal(new URL(first.page.url()).hash, '', 'the code is gone from the address bar');
    assert.equal(first.requests.some((r) => r.includes('hpc_')), false, 'the code was sent in no URL');
    await assertAccessible(first.page, 'endpoints page');

    const again = await open(url);
    await again.page.getByText('This link was already used or has expired').waitFor();
    await assertAccessible(again.page, 'refusal page');
    await again.context.close();

    assert.equal((await admin('DELETE', '/v1/portal/sessions/browser-once?tenant=default')).status, 204);
    await first.page.getByRole('link', { name: 'Message log' }).click();
    await first.page.getByText('This portal session has ended').waitFor();
    await first.context.close();
  });

  test('an endpoint created in the portal receives an event posted through the API, and the open log shows it without a reload', async () => {
    const { page, context } = await open(await link('default'));
    await heading(page, 'Endpoints');
    await page.getByRole('link', { name: 'Add endpoint' }).click();
    await page.getByLabel('URL', { exact: true }).fill(receiver.script('/made-in-the-portal'));
    await page.getByLabel('Description').fill('made in the portal');
    await page.getByLabel('Retry policy').fill('none');
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await heading(page, 'Endpoint added');
    const endpoints = (await admin('GET', '/v1/endpoints')).body.data as { id: string; description: string }[];
    const made = endpoints.find((e) => e.description === 'made in the portal');
    assert.ok(made, 'the endpoint exists in Herald');

    await page.goto(`${new URL(page.url()).origin}/portal/#/log`);
    await heading(page, 'Message log');
    assert.equal((await admin('POST', '/v1/events', { id: 'live-1', type: 'order.created', data: { order: 1 }, tags: ['customer:4711'] })).status, 202);
    const row = page.locator('tr', { hasText: 'live-1' }).filter({ hasText: made.id });
    await row.waitFor({ timeout: 10_000 });
    await row.getByText('delivered').waitFor({ timeout: 20_000 });
    await row.locator('.tag', { hasText: 'customer:4711' }).waitFor();
    await receiver.waitFor('/made-in-the-portal', 1);
    await shoot(page, 'message-log');
    await assertAccessible(page, 'message log');
    await context.close();
  });

  test('a receiver answering 500 shows in the attempts; fixed, Replay delivers', async () => {
    let fixed = false;
    const url = receiver.respond('/flaky', () => (fixed ? { status: 200 } : { status: 500, body: 'database unavailable' }));
    const endpoint = (await admin('POST', '/v1/endpoints', { url, eventTypes: ['invoice.*'], retryPolicy: 'none', description: 'flaky ERP' })).body;
    assert.equal((await admin('POST', '/v1/events', { id: 'inv-500', type: 'invoice.paid', data: { invoice: 500 } })).status, 202);
    const deliveryId = `delivery:default:inv-500:${endpoint.id}`;
    const { page, context } = await open(await link('default'));
    await heading(page, 'Endpoints');
    await page.goto(`${new URL(page.url()).origin}/portal/#/log/${encodeURIComponent(deliveryId)}`);
    const status = page.getByTestId('delivery-status');
    await status.getByText('failed').waitFor({ timeout: 30_000 });
    await page.locator('td', { hasText: /^500$/ }).first().waitFor();
    await page.getByText('database unavailable').first().waitFor();
    // An admin-issued link is the operator's: the event's workflow is one click away.
    const workflowLink = await page.getByRole('link', { name: 'The event\'s workflow in the Temporal Web UI' }).getAttribute('href');
    assert.match(workflowLink!, /\/namespaces\/default\/workflows\/event%3Adefault%3Ainv-500$/);
    await shoot(page, 'delivery');

    // The request as the attempt sent it: what arrived (but the transport's framing), and still so once the endpoint changes.
    const [sent] = receiver.received('/flaky');
    const transport = new Set(['host', 'content-length', 'connection']);
    const asSent = `POST ${url}\n${Object.entries(sent!.headers).filter(([name]) => !transport.has(name)).map(([name, value]) => `${name}: ${value}`).join('\n')}\n\n${sent!.body}`;
    const sentRequest = page.getByTestId('sent-request');
    await eventually(() => sentRequest.innerText(), (text) => text === asSent);
    assert.equal((await admin('PATCH', `/v1/endpoints/${endpoint.id}`, { url: receiver.script('/moved'), format: 'flat' })).status, 200);
    await page.reload();
    await status.getByText('failed').waitFor({ timeout: 30_000 });
    assert.equal(await sentRequest.innerText(), asSent);
    assert.equal((await admin('PATCH', `/v1/endpoints/${endpoint.id}`, { url, format: 'standard' })).status, 200);

    fixed = true;
    await page.getByRole('button', { name: 'Replay' }).click();
    await status.getByText('delivered').waitFor({ timeout: 30_000 });
    await assertAccessible(page, 'delivery page');
    await context.close();
  });

  test('an event, endpoint and answer holding markup and javascript: links render as inert text', async () => {
    const injected = receiver.script('/injected');
    const payload = `<img src="${injected}" onerror="alert('img')"><a href="javascript:alert('link')">click</a><script>alert('script')</script>`;
    await admin('PUT', '/v1/event-types/xss.test', { description: payload, schema: { type: 'object', examples: [{ note: payload, link: 'javascript:alert(1)' }] } });
    // A failed attempt keeps the receiver's answer: the delivery page shows it.
    const url = receiver.script('/answers-markup', { status: 500, body: payload });
    // A filter holding the markup as a string: true for every event, shown on the endpoint's page as code.
    const filter = `event.type != ${JSON.stringify(payload)}`;
    const endpoint = (await admin('POST', '/v1/endpoints', { url, eventTypes: ['xss.*'], description: payload, retryPolicy: 'none', filter })).body;
    assert.equal(endpoint.filter, filter);
    assert.equal((await admin('POST', '/v1/events', { id: 'xss-1', type: 'xss.test', data: { note: payload } })).status, 202);
    const { page, context, dialogs, requests } = await open(await link('default'));
    await heading(page, 'Endpoints');
    const origin = new URL(page.url()).origin;
    for (const route of ['#/endpoints', '#/catalog', `#/endpoints/${endpoint.id}`, `#/log/${encodeURIComponent(`delivery:default:xss-1:${endpoint.id}`)}`]) {
      await page.goto(`${origin}/portal/${route}`);
      await page.getByText(payload).first().waitFor({ timeout: 20_000 });
    }
    await page.goto(`${origin}/portal/#/endpoints/${endpoint.id}`);
    assert.equal(await page.getByTestId('filter').innerText(), filter);
    await page.goto(`${origin}/portal/#/catalog`);
    await page.getByText(payload).first().waitFor();
    assert.deepEqual(dialogs, []);
    assert.equal(requests.filter((r) => r.startsWith(injected)).length, 0);
    assert.equal(receiver.received('/injected').length, 0);
    assert.equal(await page.locator('img, script:not([src]), a[href^="javascript:"]').count(), 0);
    await context.close();
  });

  test('a view session shows no write control, and its writes get 403', async () => {
    const endpoint = (await admin('POST', '/v1/endpoints', { url: receiver.script('/view-only'), description: 'watched only' })).body;
    const { page, context } = await open(await link('default', { capabilities: ['view'] }));
    await heading(page, 'Endpoints');
    await page.getByText('watched only').waitFor();
    for (const control of ['Add endpoint', 'Edit', 'Disable', 'Delete']) assert.equal(await page.getByRole('button', { name: control }).or(page.getByRole('link', { name: control })).count(), 0, control);
    await page.goto(`${new URL(page.url()).origin}/portal/#/endpoints/${endpoint.id}`);
    await heading(page, 'Transform and preview');
    for (const control of ['Reveal secret', 'Rotate secret', 'Save transform', 'Send test event', 'Recover']) assert.equal(await page.getByRole('button', { name: control }).count(), 0, control);
    const answer = await page.evaluate(async (id) => {
      const { token } = JSON.parse(sessionStorage.getItem('herald-portal-session')!);
      const response = await fetch(`/v1/endpoints/${id}`, { method: 'PATCH', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"enabled":false}' });
      return response.status;
    }, endpoint.id);
    assert.equal(answer, 403);
    await context.close();
  });

  test('a session narrowed to one endpoint never shows another', async () => {
    const mine = (await admin('POST', '/v1/endpoints', { url: receiver.script('/narrow-a'), eventTypes: ['narrow.*'], description: 'narrow mine' })).body;
    const theirs = (await admin('POST', '/v1/endpoints', { url: receiver.script('/narrow-b'), eventTypes: ['narrow.*'], description: 'narrow theirs' })).body;
    assert.equal((await admin('POST', '/v1/events', { id: 'narrow-1', type: 'narrow.done', data: {} })).status, 202);
    const { page, context } = await open(await link('default', { endpointIds: [mine.id] }));
    await heading(page, 'Endpoints');
    await page.getByText('narrow mine').waitFor();
    assert.equal(await page.getByText('narrow theirs').count(), 0);
    await page.getByRole('link', { name: 'Message log' }).click();
    await page.locator('tr', { hasText: mine.id }).first().waitFor({ timeout: 20_000 });
    assert.equal(await page.locator('tr', { hasText: theirs.id }).count(), 0);
    await page.goto(`${new URL(page.url()).origin}/portal/#/endpoints/${theirs.id}`);
    await page.getByText(`endpoint ${theirs.id} does not exist`).waitFor();
    await context.close();
  });

  test('an admin link shows the tenant switcher and switching shows the other tenant\'s endpoints; a tenant link has none and cannot reach another tenant', async () => {
    assert.equal((await admin('POST', '/v1/tenants', { id: 'switched-to', name: 'Switched to' })).status, 201);
    assert.equal((await admin('POST', '/v1/endpoints', { tenant: 'switched-to', url: receiver.script('/switched'), description: 'only in switched-to' })).status, 201);
    assert.equal((await admin('POST', '/v1/endpoints', { url: receiver.script('/stays-default'), description: 'only in default' })).status, 201);

    const operator = await open(await link('default'));
    await heading(operator.page, 'Endpoints');
    await operator.page.getByText('only in default').waitFor();
    const switcher = operator.page.getByLabel('Tenant');
    await switcher.locator('option', { hasText: 'switched-to' }).waitFor({ state: 'attached' });
    await switcher.selectOption('switched-to');
    await operator.page.getByText('only in switched-to').waitFor();
    assert.equal(await operator.page.getByText('only in default').count(), 0, 'the first tenant\'s endpoints are gone');
    assert.equal(await switcher.inputValue(), 'switched-to');
    await assertAccessible(operator.page, 'endpoints page with the tenant switcher');
    await operator.context.close();

    const tenantKey = (await admin('POST', '/v1/tenants/switched-to/keys', {})).body.key as string;
    const issued = await herald.api('POST', '/v1/portal/sessions', { capabilities: everyCapability }, { authorization: `Bearer ${tenantKey}` });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    const tenant = await open(issued.body.url);
    await heading(tenant.page, 'Endpoints');
    await tenant.page.getByText('only in switched-to').waitFor();
    assert.equal(await tenant.page.getByLabel('Tenant').count(), 0, 'no switcher');
    // Inline, with no named function: the test's transpiler would wrap one in a helper the page does not have.
    const answers = await tenant.page.evaluate(async (calls) => {
      const { token } = JSON.parse(sessionStorage.getItem('herald-portal-session')!);
      return Promise.all(calls.map(async ([method, path, body]) =>
        `${method} ${path} ${(await fetch(path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body })).status}`));
    }, [['GET', '/v1/tenants'], ['POST', '/v1/portal/switch', '{"tenant":"default"}'], ['GET', '/v1/endpoints?tenant=default']] as [string, string, string?][]);
    assert.deepEqual(answers, ['GET /v1/tenants 403', 'POST /v1/portal/switch 403', 'GET /v1/endpoints?tenant=default 403']);
    await tenant.context.close();
  });

  test('embedded in a frame: an allowed origin shows the portal, another origin is refused by the browser', async () => {
    await admin('POST', '/v1/tenants', { id: 'embedder' });
    const host = http.createServer((req, res) => {
      const src = new URL(req.url!, 'http://host').searchParams.get('src')!;
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><title>host</title><iframe title="portal" src="${src.replace(/"/g, '&quot;')}" width="900" height="600"></iframe>`);
    });
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    const hostOrigin = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
    try {
      // The portal on "localhost", the host page on 127.0.0.1: two origins.
      const portalUrl = (url: string) => url.replace('://127.0.0.1:', '://localhost:');
      assert.equal((await admin('PUT', '/v1/portal/frame-ancestors', { tenant: 'embedder', origins: [hostOrigin] })).status, 200);
      const allowed = await open(`${hostOrigin}/?src=${encodeURIComponent(portalUrl(await link('embedder')))}`);
      await allowed.page.frameLocator('iframe').getByRole('heading', { name: 'Endpoints', exact: true }).waitFor({ timeout: 15_000 });
      await allowed.context.close();

      const refusedUrl = portalUrl(await link('default'));
      const refused = await open('about:blank');
      const blocked = new Promise<string>((resolve) => refused.page.on('console', (message) => { if (/frame-ancestors/.test(message.text())) resolve(message.text()); }));
      await refused.page.goto(`${hostOrigin}/?src=${encodeURIComponent(refusedUrl)}`);
      assert.match(await blocked, /violates the following Content Security Policy directive: "frame-ancestors 'self'"/);
      assert.equal(await refused.page.frameLocator('iframe').getByRole('heading', { name: 'Endpoints' }).count(), 0);
      await refused.context.close();
    } finally {
      await new Promise((resolve) => host.close(resolve));
    }
  });

  test('the transform preview shows the body and headers that then arrive', async () => {
    await admin('PUT', '/v1/event-types/shipment.sent', { description: 'A parcel left the warehouse', schema: { type: 'object', properties: { parcel: { type: 'string' } }, examples: [{ parcel: 'P-77', carrier: 'DHL' }] } });
    const endpoint = (await admin('POST', '/v1/endpoints', { url: receiver.script('/shipments'), eventTypes: ['shipment.*'], description: 'shipments' })).body;
    const { page, context } = await open(await link('default'));
    await heading(page, 'Endpoints');
    await page.goto(`${new URL(page.url()).origin}/portal/#/endpoints/${endpoint.id}`);
    await heading(page, 'Transform and preview');
    await page.getByLabel('Example event').selectOption('shipment.sent');
    await page.getByLabel(/^Body expression/).fill('{"parcel": event.data.parcel, "by": event.data.carrier, "kind": event.type}');
    await page.getByLabel(/^Header expressions/).fill('{"X-Parcel": "event.data.parcel"}');
    const preview = page.getByTestId('preview-request');
    await preview.getByText('"by":"DHL"').waitFor({ timeout: 15_000 });
    await page.getByRole('button', { name: 'Save transform' }).click();
    await page.getByText('Transform saved.').waitFor();
    const shown = await preview.innerText();

    assert.equal((await admin('POST', '/v1/events', { id: 'ship-1', type: 'shipment.sent', data: { parcel: 'P-77', carrier: 'DHL' } })).status, 202);
    const [arrived] = await receiver.waitFor('/shipments', 1);
    // The chart over time, from the stats API's series: 48 steps of 30 min by default, 60 of 1 min for the last hour.
    await eventually(() => admin('GET', `/v1/deliveries/delivery:default:ship-1:${endpoint.id}`), (r) => r.body?.status === 'delivered');
    await page.reload();
    const chart = page.getByTestId('stats-chart');
    await eventually(() => chart.getAttribute('aria-label'), (label) => /^Over 24h: 1 attempts, 1 delivered, 0 failed, .* in 48 steps$/.test(label ?? ''));
    await page.getByRole('button', { name: '1 h', exact: true }).click();
    await eventually(() => chart.getAttribute('aria-label'), (label) => /^Over 1h: 1 attempts, .* in 60 steps$/.test(label ?? ''));
    await page.getByLabel('Example event').selectOption('shipment.sent');
    await preview.getByText('"by":"DHL"').waitFor({ timeout: 15_000 });
    await shoot(page, 'endpoint');
    await assertAccessible(page, 'endpoint page');
    const [, headerLines = '', body] = /^[A-Z]+ \S+\n([\s\S]*?)\n\n([\s\S]*)$/.exec(shown) ?? [];
    assert.equal(body, arrived!.body);
    const previewed = Object.fromEntries(headerLines.split('\n').map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 2)]));
    assert.equal(previewed['x-parcel'], 'P-77');
    // Per attempt (its id, time and signature) differs by nature; every other header arrives as previewed.
    for (const [name, value] of Object.entries(previewed)) {
      if (['webhook-id', 'webhook-timestamp', 'webhook-signature'].includes(name)) continue;
      assert.equal(arrived!.headers[name], value, name);
    }
    await context.close();
  });

  test('the catalog, the endpoints list and a narrow screen, kept as pictures; keyboard first reaches the skip link; embedding options apply', async () => {
    const { page, context } = await open(await link('default'));
    await heading(page, 'Endpoints');
    await eventually(() => page.locator('tbody tr').count(), (count) => count > 3);
    await shoot(page, 'endpoints');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    await page.getByRole('link', { name: 'Event catalog' }).click();
    await heading(page, 'shipment.sent');
    await shoot(page, 'catalog');
    await assertAccessible(page, 'catalog');
    await context.close();

    // Embedding options: the first page, no navigation, dark, the host's colour.
    const embedded = new URL(await link('default'));
    for (const [name, value] of [['next', '/catalog'], ['hideNav', 'true'], ['darkMode', 'true'], ['primaryColor', 'aa3300']] as const) embedded.searchParams.set(name, value);
    const options = await open(embedded.href);
    await heading(options.page, 'Event catalog');
    assert.equal(await options.page.getByRole('navigation', { name: 'Portal' }).isVisible(), false);
    assert.deepEqual(await options.page.evaluate(() => [document.documentElement.className, getComputedStyle(document.documentElement).getPropertyValue('--primary')]), ['dark hide-nav', '#aa3300']);
    await options.context.close();

    const narrow = await open(await link('default'), { viewport: { width: 390, height: 800 } });
    await heading(narrow.page, 'Endpoints');
    await narrow.page.goto(`${new URL(narrow.page.url()).origin}/portal/#/log`);
    await narrow.page.locator('tbody tr').first().waitFor({ timeout: 15_000 });
    const overflow = await narrow.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.equal(overflow, 0, 'no sideways scrolling of the page on a phone-sized screen');
    await shoot(narrow.page, 'message-log-narrow');
    await narrow.context.close();
  });
});
