/**
 * The portal shows how Herald reaches a receiver: an endpoint's authentication (set, replaced, removed;
 * its secret never shown), whether it bypasses the egress proxy, its filter and channels (set, refused
 * beside the box, cleared), event tags in the message log, and scheduled events, cancellable there. A real Herald sending through a real CONNECT proxy, a real receiver, Chromium.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConnectProxy } from '../../ops/connectProxy.ts';
import { eventually } from '../support/eventually.ts';
import { startPortalInBrowser, type PortalInBrowser } from '../support/portalBrowser.ts';

const ADMIN_KEY = 'admin-key-for-the-portal-reach-test';

describe('the portal shows how Herald reaches receivers', () => {
  let portal: PortalInBrowser;
  let proxy: ConnectProxy;
  before(async () => {
    proxy = await ConnectProxy.start();
    portal = await startPortalInBrowser(ADMIN_KEY, { HERALD_EGRESS_PROXY: proxy.url() });
  });
  after(async () => {
    await portal?.stop();
    await proxy?.stop();
  });
  const origin = (url: string) => new URL(url).origin;
  const tunnelsTo = (url: string) => proxy.connects.filter((c) => c.target === new URL(url).host).length;

  test('a basic-auth endpoint made in the portal receives the right Authorization; its page shows the username, never the password; proxy bypass and removal are edited there', async () => {
    const { admin, receiver } = portal;
    const { page, context } = await portal.open(await portal.link('default'));
    await portal.heading(page, 'Endpoints');
    await page.getByRole('link', { name: 'Add endpoint' }).click();
    const url = receiver.script('/basic-in-the-portal');
    await page.getByLabel('URL', { exact: true }).fill(url);
    await page.getByLabel('Description').fill('basic auth from the portal');
    await page.getByLabel('Event types').fill('reach.basic');
    await page.getByLabel('Authentication', { exact: true }).selectOption('basic');
    await page.getByLabel('Username').fill('ops:desk');
    await page.getByLabel('Password').fill('s3cret-pass');
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    // The API's refusal names auth.username: shown beside that box, which it describes.
    await page.locator('#e-auth-username', { hasText: 'printable ASCII without a colon' }).waitFor();
    assert.match(await page.getByLabel('Username').getAttribute('aria-describedby') ?? '', /\be-auth-username\b/);
    await page.getByLabel('Username').fill('ops');
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await portal.heading(page, 'Endpoint added');
    const made = ((await admin('GET', '/v1/endpoints')).body.data as { id: string; description: string }[]).find((e) => e.description === 'basic auth from the portal')!;
    assert.ok(made, 'the endpoint exists in Herald');

    assert.equal((await admin('POST', '/v1/events', { id: 'basic-1', type: 'reach.basic', data: {} })).status, 202);
    const [arrived] = await receiver.waitFor('/basic-in-the-portal', 1);
    assert.equal(arrived!.headers.authorization, `Basic ${Buffer.from('ops:s3cret-pass').toString('base64')}`);
    assert.equal(tunnelsTo(url), 1, 'through the egress proxy: it is not bypassed');

    const endpointPage = `${origin(page.url())}/portal/#/endpoints/${made.id}`;
    await page.goto(endpointPage);
    await portal.heading(page, 'Attempts and latency');
    const facts = page.locator('dl.facts');
    await facts.getByText('basic', { exact: true }).waitFor();
    await facts.getByText('ops', { exact: true }).waitFor();
    assert.match(await page.getByTestId('proxy').innerText(), /^used/);
    assert.equal((await page.content()).includes('s3cret-pass'), false, 'the password is on no page');

    // Bypass the proxy; the authentication is kept as it is (its secret is never read back to be sent again).
    await page.getByRole('link', { name: 'Edit' }).click();
    await portal.heading(page, 'Edit endpoint');
    assert.equal(await page.getByLabel('Authentication', { exact: true }).inputValue(), 'keep');
    await page.getByLabel('Send through Herald\'s egress proxy').uncheck();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('proxy').filter({ hasText: /^bypassed/ }).waitFor();
    assert.equal((await admin('POST', '/v1/events', { id: 'basic-2', type: 'reach.basic', data: {} })).status, 202);
    const [, second] = await receiver.waitFor('/basic-in-the-portal', 2);
    assert.equal(second!.headers.authorization, arrived!.headers.authorization);
    assert.equal(tunnelsTo(url), 1, 'straight to the receiver: no new tunnel');

    // Removed: the next request carries no Authorization.
    await page.getByRole('link', { name: 'Edit' }).click();
    await portal.heading(page, 'Edit endpoint');
    await page.getByLabel('Authentication', { exact: true }).selectOption('none');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('proxy').waitFor();
    await facts.getByText('none', { exact: true }).waitFor();
    assert.equal((await admin('GET', `/v1/endpoints/${made.id}`)).body.auth, null);
    assert.equal((await admin('POST', '/v1/events', { id: 'basic-3', type: 'reach.basic', data: {} })).status, 202);
    const [, , third] = await receiver.waitFor('/basic-in-the-portal', 3);
    assert.equal(third!.headers.authorization, undefined);
    await context.close();
  });

  test('the form sets OAuth2 client credentials with the secret write-only; an error names its field beside it', async () => {
    const endpoint = (await portal.admin('POST', '/v1/endpoints', {
      url: portal.receiver.script('/oauth2-form'), eventTypes: ['reach.oauth2'], description: 'oauth2 from the portal',
      auth: { type: 'basic', username: 'before', password: 'old-password' },
    })).body;
    const { page, context } = await portal.open(await portal.link('default'));
    await portal.heading(page, 'Endpoints');
    await page.goto(`${origin(page.url())}/portal/#/endpoints/${endpoint.id}/edit`);
    await portal.heading(page, 'Edit endpoint');
    await page.getByLabel('Authentication', { exact: true }).selectOption('oauth2-client-credentials');
    await page.getByLabel('Token URL').fill('tokens.example.com/oauth/token');
    await page.getByLabel('Client id').fill('herald-portal');
    await page.getByLabel('Client secret').fill('client-secret-kept-sealed');
    await page.getByLabel('Scope').fill('webhooks:write');
    assert.equal(await page.getByLabel('Client secret').getAttribute('type'), 'password');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#e-auth-tokenUrl', { hasText: /\w/ }).waitFor();
    await portal.shoot(page, 'endpoint-form');
    await portal.assertAccessible(page, 'endpoint form with an error beside a field');

    await page.getByLabel('Token URL').fill(portal.receiver.script('/oauth2-token'));
    await page.getByRole('button', { name: 'Save' }).click();
    await portal.heading(page, 'Attempts and latency');
    const facts = page.locator('dl.facts');
    await facts.getByText('oauth2-client-credentials', { exact: true }).waitFor();
    await facts.getByText('herald-portal', { exact: true }).waitFor();
    await facts.getByText('webhooks:write', { exact: true }).waitFor();
    assert.equal((await page.content()).includes('client-secret-kept-sealed'), false, 'the client secret is on no page');
    const read = (await portal.admin('GET', `/v1/endpoints/${endpoint.id}`)).body.auth;
    assert.deepEqual(read, { type: 'oauth2-client-credentials', tokenUrl: portal.receiver.script('/oauth2-token'), clientId: 'herald-portal', scope: 'webhooks:write' });
    await context.close();
  });

  test('a filter and channels set in the portal: only matching events arrive, the others have no delivery for it; a refused filter (syntax, runaway, not a boolean) or channel is named beside its box; the log narrows to a tag', async () => {
    const { admin, receiver } = portal;
    const filtered = (await admin('POST', '/v1/endpoints', { url: receiver.script('/filtered'), eventTypes: ['reach.order'], description: 'big EU orders' })).body;
    const everything = (await admin('POST', '/v1/endpoints', { url: receiver.script('/unfiltered'), eventTypes: ['reach.order'], description: 'every order' })).body;
    const { page, context } = await portal.open(await portal.link('default'));
    await portal.heading(page, 'Endpoints');
    await page.goto(`${origin(page.url())}/portal/#/endpoints/${filtered.id}/edit`);
    await portal.heading(page, 'Edit endpoint');
    const filterBox = page.getByLabel('Filter', { exact: true });
    await filterBox.fill('event.data.total >=');
    await page.getByRole('button', { name: 'Save' }).click();
    const beside = page.locator('#e-filter');
    await beside.filter({ hasText: /\w/ }).waitFor();
    assert.match(await filterBox.getAttribute('aria-describedby') ?? '', /\be-filter\b/);
    await filterBox.fill('$count($distinct([1..40000])) > 0');
    await page.getByRole('button', { name: 'Save' }).click();
    await beside.filter({ hasText: /^took longer than the \d+ ms deadline and was stopped, on a sample event$/ }).waitFor();
    await page.getByLabel('Channels').fill('eu shop');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#e-channels', { hasText: 'A-Z a-z 0-9' }).waitFor();
    await page.getByLabel('Channels').fill('');
    await filterBox.fill('event.type');
    await page.getByRole('button', { name: 'Save' }).click();
    await beside.filter({ hasText: 'must give true or false; it gave a string, on a sample event' }).waitFor();
    await portal.shoot(page, 'endpoint-form-filter');
    await portal.assertAccessible(page, 'endpoint form with a refused filter');
    assert.equal((await admin('GET', `/v1/endpoints/${filtered.id}`)).body.filter, null, 'nothing refused was kept');

    await filterBox.fill('event.data.total >= 100');
    await page.getByLabel('Channels').fill('eu-shop');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('filter').filter({ hasText: 'event.data.total >= 100' }).waitFor();
    assert.equal(await page.getByTestId('channels').innerText(), 'eu-shop');
    assert.deepEqual((await admin('GET', `/v1/endpoints/${filtered.id}`)).body.channels, ['eu-shop']);

    // Two events match (EU, 100 or more); one is too small, one in another channel.
    const events = [
      { id: 'order-big-eu', channels: ['eu-shop'], tags: ['vip'], data: { total: 150 } },
      { id: 'order-small-eu', channels: ['eu-shop'], data: { total: 50 } },
      { id: 'order-big-us', channels: ['us-shop'], tags: ['vip', 'customer:7'], data: { total: 500 } },
      { id: 'order-bigger-eu', channels: ['eu-shop'], data: { total: 900 } },
    ];
    for (const event of events) assert.equal((await admin('POST', '/v1/events', { type: 'reach.order', ...event })).status, 202);
    await receiver.waitFor('/unfiltered', events.length);
    const arrived = await receiver.waitFor('/filtered', 2);
    assert.deepEqual(arrived.map((r) => JSON.parse(r.body).data.total).sort((a, b) => a - b), [150, 900]);
    for (const { id } of events) {
      const endpointsOf = ((await admin('GET', `/v1/events/${id}`)).body.deliveries as { endpointId: string }[]).map((d) => d.endpointId);
      assert.deepEqual(endpointsOf.sort(), (id.endsWith('-eu') && id !== 'order-small-eu' ? [filtered.id, everything.id] : [everything.id]).sort(), id);
    }
    assert.equal(receiver.received('/filtered').length, 2);

    // The message log narrowed to a tag lists the tagged events' deliveries only, each showing its tags.
    await page.goto(`${origin(page.url())}/portal/#/log`);
    await portal.heading(page, 'Message log');
    const rows = page.locator('tbody tr');
    const tagBox = page.getByLabel('Tag', { exact: true });
    await tagBox.fill('vip');
    // The live list redraws while one types (here: a new event's delivery appears); what is typed stays in the box.
    assert.equal((await admin('POST', '/v1/events', { id: 'order-while-typing', type: 'reach.order', channels: ['us-shop'], data: { total: 1 } })).status, 202);
    await rows.filter({ hasText: 'order-while-typing' }).waitFor();
    assert.equal(await tagBox.inputValue(), 'vip');
    await tagBox.press('Enter');
    const expected = [`delivery:default:order-big-eu:${filtered.id}`, `delivery:default:order-big-eu:${everything.id}`, `delivery:default:order-big-us:${everything.id}`];
    await eventually(() => rows.evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.delivery ?? '').sort()), (ids) => JSON.stringify(ids) === JSON.stringify([...expected].sort()));
    assert.deepEqual((await rows.filter({ hasText: 'order-big-us' }).locator('.tag').allInnerTexts()), ['vip', 'customer:7']);
    await portal.shoot(page, 'message-log-tag');
    await portal.assertAccessible(page, 'message log narrowed to a tag');

    // A delivery shows its event's channels and tags.
    await rows.filter({ hasText: 'order-big-eu' }).filter({ hasText: filtered.id }).getByRole('link').click();
    assert.equal(await page.getByTestId('event-channels').innerText(), 'eu-shop');
    assert.equal(await page.getByTestId('event-tags').innerText(), 'vip');

    // Cleared in the form: the endpoint has neither any more.
    await page.goto(`${origin(page.url())}/portal/#/endpoints/${filtered.id}/edit`);
    await portal.heading(page, 'Edit endpoint');
    assert.equal(await filterBox.inputValue(), 'event.data.total >= 100');
    await filterBox.fill('');
    await page.getByLabel('Channels').fill('');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('filter').filter({ hasText: /^none/ }).waitFor();
    const cleared = (await admin('GET', `/v1/endpoints/${filtered.id}`)).body;
    assert.deepEqual([cleared.filter, cleared.channels], [null, null]);
    await context.close();
  });

  test('a scheduled event shows as scheduled with its due time; a view session has no Cancel; cancelled in the portal it shows as cancelled', async () => {
    const { admin } = portal;
    const endpoint = (await admin('POST', '/v1/endpoints', { url: portal.receiver.script('/later'), eventTypes: ['reach.later'], description: 'later' })).body;
    const other = (await admin('POST', '/v1/endpoints', { url: portal.receiver.script('/later-too'), eventTypes: ['reach.later'], description: 'later too' })).body;
    const scheduled = await admin('POST', '/v1/events', { id: 'later-1', type: 'reach.later', data: { remind: true }, delay: '2h' });
    assert.equal(scheduled.status, 202);
    const row = (page: import('playwright-core').Page) => page.locator('tr', { hasText: 'later-1' }).filter({ hasText: endpoint.id });

    const viewer = await portal.open(await portal.link('default', { capabilities: ['view'] }));
    await portal.heading(viewer.page, 'Endpoints');
    await viewer.page.goto(`${origin(viewer.page.url())}/portal/#/log`);
    await row(viewer.page).getByText('scheduled', { exact: true }).waitFor({ timeout: 15_000 });
    assert.equal(await viewer.page.getByRole('button', { name: /^Cancel/ }).count(), 0, 'no Cancel for a view session');
    const refused = await viewer.page.evaluate(async () => {
      const { token } = JSON.parse(sessionStorage.getItem('herald-portal-session')!);
      return (await fetch('/v1/events/later-1/cancel', { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status;
    });
    assert.equal(refused, 403);
    await viewer.context.close();

    // A session narrowed to one of the two endpoints may not cancel what the other would get.
    const narrowed = await portal.open(await portal.link('default', { endpointIds: [endpoint.id], capabilities: ['view', 'replay'] }));
    await portal.heading(narrowed.page, 'Endpoints');
    const narrowedAnswer = await narrowed.page.evaluate(async () => {
      const { token } = JSON.parse(sessionStorage.getItem('herald-portal-session')!);
      return (await fetch('/v1/events/later-1/cancel', { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status;
    });
    assert.equal(narrowedAnswer, 403);
    await narrowed.context.close();

    const { page, context, dialogs } = await portal.open(await portal.link('default'), { acceptDialogs: true });
    await portal.heading(page, 'Endpoints');
    await page.goto(`${origin(page.url())}/portal/#/log`);
    await row(page).getByText('scheduled', { exact: true }).waitFor({ timeout: 15_000 });
    const due = new Date(scheduled.body.deliverAt).toLocaleString('en-US', { timeZone: 'UTC' });
    assert.equal((await row(page).innerText()).replace(/\s+/g, ' ').includes(`due ${due}`.replace(/\s+/g, ' ')), true, `shows due ${due}`);
    await portal.shoot(page, 'message-log-scheduled');
    await portal.assertAccessible(page, 'message log with a scheduled event');

    await row(page).getByRole('button', { name: 'Cancel the scheduled event later-1' }).click();
    await row(page).getByText('cancelled', { exact: true }).waitFor({ timeout: 15_000 });
    await page.locator('tr', { hasText: 'later-1' }).filter({ hasText: other.id }).getByText('cancelled', { exact: true }).waitFor();
    assert.deepEqual(dialogs, ['Cancel the scheduled event later-1? Nothing of it will be delivered.']);
    assert.equal((await admin('GET', '/v1/events/later-1')).body.status, 'cancelled');
    assert.equal(portal.receiver.received('/later').length, 0);
    await context.close();
  });
});
