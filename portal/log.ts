import { useEffect, useState } from 'preact/hooks';
import { query, type Api, type Session } from './api.ts';
import { Badge, ErrorNote, formatTime, html, requestText, type Outbound } from './html.ts';

/** The open log and an open delivery follow new deliveries and attempts by polling, well within 2 s. */
const LIVE_MS = 1000;
const statuses = ['', 'pending', 'retrying', 'delivered', 'failed', 'cancelled'];

/** Runs `load` now and every LIVE_MS while the tab is visible, until `deps` change or the page closes. */
function useLive(load: () => Promise<void>, deps: unknown[]): void {
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout>;
    const tick = async () => {
      if (document.visibilityState === 'visible') await load().catch(() => undefined);
      if (!stopped) timer = setTimeout(tick, LIVE_MS);
    };
    void tick();
    return () => { stopped = true; clearTimeout(timer); };
  }, deps);
}

/**
 * A delivery of an event scheduled for later: pending, never attempted, its next attempt (the event's
 * `deliverAt`) still ahead. Once due it reads as pending until its first attempt.
 */
const isScheduled = (d: { status: string; attempts: number | unknown[]; nextAttemptAt: string | null }) =>
  d.status === 'pending' && (Array.isArray(d.attempts) ? d.attempts.length : d.attempts) === 0 && !!d.nextAttemptAt && Date.parse(d.nextAttemptAt) > Date.now();

/** A delivery's status; a scheduled one shows as such with its due time. */
const StatusOf = ({ delivery: d }: { delivery: any }) => isScheduled(d)
  ? html`<${Badge} value="scheduled" /><div class="muted">due ${formatTime(d.nextAttemptAt)}</div>`
  : html`<${Badge} value=${d.status} />`;

/** Cancels the event before it is due (every delivery of it); its rows then show cancelled. */
const cancelEvent = (api: Api, eventId: string) => window.confirm(`Cancel the scheduled event ${eventId}? Nothing of it will be delivered.`)
  ? api('POST', `/v1/events/${encodeURIComponent(eventId)}/cancel`).then(() => undefined) : Promise.resolve();

/** An event's tags or channels, each shown apart. */
const Labels = ({ names }: { names: string[] | undefined }) => html`${(names ?? []).map((name) => html`<span class="tag">${name}</span>`)}`;

/** `onCancel`: the session may cancel scheduled events; a scheduled row then has a Cancel button. */
export const DeliveryRows = ({ rows, onCancel }: { rows: any[]; onCancel?: (eventId: string) => void }) => rows.length === 0 ? html`<p>No deliveries.</p>` : html`
  <div class="table-wrap"><table>
    <thead><tr><th scope="col">Event</th><th scope="col">Type</th><th scope="col">Endpoint</th><th scope="col">Tags</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Last answer</th><th scope="col">Started</th></tr></thead>
    <tbody>${rows.map((d) => html`<tr key=${d.id} data-delivery=${d.id}>
      <td><a href=${`#/log/${encodeURIComponent(d.id)}`}>${d.eventId}</a></td><td>${d.eventType}</td><td>${d.endpointId}</td><td><${Labels} names=${d.tags} /></td>
      <td><${StatusOf} delivery=${d} />${onCancel && isScheduled(d) && html`
        <button type="button" class="secondary" aria-label=${`Cancel the scheduled event ${d.eventId}`} onClick=${() => onCancel(d.eventId)}>Cancel</button>`}</td>
      <td>${d.attempts}</td><td>${d.lastStatusCode ?? d.lastError ?? '–'}</td><td>${formatTime(d.startedAt)}</td></tr>`)}
    </tbody></table></div>`;

const noFilters = { status: '', eventType: '', endpointId: '', eventId: '', tag: '', since: '' };

/** Deliveries newest first, filtered (a tag among them) and paged; the first page follows new ones live. */
export function LogPage({ api, can }: { api: Api; can: (c: string) => boolean }) {
  const [filters, setFilters] = useState(noFilters);
  // What the boxes hold, applied on Enter or on leaving a box: the live load redraws the form every second, and boxes
  // bound to the applied filters alone lost at each redraw what was being typed.
  const [typed, setTyped] = useState(noFilters);
  const [cursors, setCursors] = useState<string[]>([]);
  const [page, setPage] = useState<{ data: any[]; nextCursor: string | null } | undefined>();
  const [error, setError] = useState<unknown>();
  // Its own: each live load clears the other.
  const [cancelError, setCancelError] = useState<unknown>();
  const cursor = cursors.at(-1);
  useLive(async () => {
    const since = filters.since ? new Date(filters.since).toISOString() : undefined;
    try {
      setPage(await api('GET', `/v1/deliveries${query({ ...filters, since, cursor, limit: '25' })}`));
      setError(undefined);
    } catch (err) {
      setError(err);
    }
  }, [JSON.stringify(filters), cursor]);
  const valueOf = (event: Event) => (event.currentTarget as HTMLInputElement).value;
  const set = (name: keyof typeof filters) => (event: Event) => {
    setCursors([]);
    setTyped({ ...typed, [name]: valueOf(event) });
    setFilters({ ...filters, [name]: valueOf(event) });
  };
  const input = (name: keyof typeof filters, label: string, type = 'text') => html`
    <div><label for=${`l-${name}`}>${label}</label><input id=${`l-${name}`} type=${type} value=${typed[name]}
      onInput=${(event: Event) => setTyped({ ...typed, [name]: valueOf(event) })} onChange=${set(name)} /></div>`;
  return html`
    <h1>Message log</h1>
    <form class="filters" role="search" aria-label="Filter deliveries" onSubmit=${(e: Event) => e.preventDefault()}>
      <div><label for="l-status">Status</label><select id="l-status" value=${filters.status} onChange=${set('status')}>${statuses.map((s) => html`<option value=${s}>${s || 'any'}</option>`)}</select></div>
      ${input('eventType', 'Event type')}${input('endpointId', 'Endpoint id')}${input('eventId', 'Event id')}${input('tag', 'Tag')}${input('since', 'Since', 'datetime-local')}
    </form>
    <${ErrorNote} error=${error} /><${ErrorNote} error=${cancelError} />
    <p class="muted" aria-live="polite">${cursor ? 'An older page: it does not update.' : 'Live: new deliveries appear as they happen.'}</p>
    ${page ? html`<${DeliveryRows} rows=${page.data} onCancel=${can('replay') ? (eventId: string) => cancelEvent(api, eventId).then(() => setCancelError(undefined), setCancelError) : undefined} />` : html`<p>Loading…</p>`}
    <nav class="pager" aria-label="Pages">
      ${cursors.length > 0 && html`<button type="button" class="secondary" onClick=${() => setCursors(cursors.slice(0, -1))}>Newer</button>`}
      ${page?.nextCursor && html`<button type="button" class="secondary" onClick=${() => setCursors([...cursors, page.nextCursor!])}>Older</button>`}
    </nav>`;
}

/** The request an attempt sent, as the attempt log recorded it then (credentials masked, the body's first KiB); the latest by default. */
function SentRequest({ attempts }: { attempts: any[] }) {
  const sent = attempts.filter((a) => a.request);
  const [chosen, setChosen] = useState<number | undefined>();
  const shown = sent.find((a) => a.attempt === chosen) ?? sent.at(-1);
  if (!shown) return html`<p>No request was sent yet.</p>`;
  return html`
    ${sent.length > 1 && html`<p><label for="sent-attempt">Attempt </label><select id="sent-attempt" value=${shown.attempt}
      onChange=${(e: Event) => setChosen(Number((e.currentTarget as HTMLSelectElement).value))}>
      ${sent.map((a) => html`<option value=${a.attempt}>${a.attempt}</option>`)}</select></p>`}
    <p class="muted">Recorded as it was sent: credentials and static header values masked, the body's first KiB.</p>
    <pre class="request" data-testid="sent-request">${requestText(shown.request as Outbound)}</pre>`;
}

/** One delivery and its attempts, live; Replay sends it again with a fresh attempt budget. */
export function DeliveryPage({ api, id, can, session }: { api: Api; id: string; can: (c: string) => boolean; session: Session }) {
  const [delivery, setDelivery] = useState<any>();
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState('');
  const [channels, setChannels] = useState<string[]>([]);
  const path = `/v1/deliveries/${encodeURIComponent(id)}`;
  useLive(async () => setDelivery(await api('GET', path).catch((err) => { setError(err); return undefined; })), [id]);
  const eventId: string | undefined = delivery?.eventId;
  // The event's channels are the event's, not the attempt log's: read once. Past Temporal's retention it is gone; the page shows none.
  useEffect(() => {
    if (eventId) api('GET', `/v1/events/${encodeURIComponent(eventId)}`).then((answer) => setChannels(answer.event.channels ?? []), () => setChannels([]));
  }, [eventId]);
  const replay = () => api('POST', `${path}/replay`).then(() => setNotice('Sent again: new attempts appear below.'), setError);
  if (!delivery) return html`<${ErrorNote} error=${error} /><p>Loading…</p>`;
  const workflowUrl = session.workflowUrl?.replace('{tenant}', encodeURIComponent(session.tenant)).replace('{eventId}', encodeURIComponent(delivery.eventId));
  return html`
    <p><a href="#/log">← Message log</a></p>
    <h1>Delivery of ${delivery.eventId}</h1>
    <dl class="facts">
      <dt>Status</dt><dd data-testid="delivery-status"><${StatusOf} delivery=${delivery} /></dd>
      <dt>Event type</dt><dd>${delivery.eventType}</dd>
      <dt>Endpoint</dt><dd><a href=${`#/endpoints/${encodeURIComponent(delivery.endpointId)}`}>${delivery.endpointId}</a></dd>
      <dt>Next attempt</dt><dd>${formatTime(delivery.nextAttemptAt)}</dd>
      ${channels.length > 0 && html`<dt>Channels</dt><dd data-testid="event-channels"><${Labels} names=${channels} /></dd>`}
      ${delivery.tags?.length > 0 && html`<dt>Tags</dt><dd data-testid="event-tags"><${Labels} names=${delivery.tags} /></dd>`}
    </dl>
    ${workflowUrl && html`<p><a href=${workflowUrl} target="_blank" rel="noopener noreferrer">The event's workflow in the Temporal Web UI</a></p>`}
    ${can('replay') && (isScheduled(delivery)
      ? html`<p><button type="button" class="danger" onClick=${() => cancelEvent(api, delivery.eventId).catch(setError)}>Cancel the scheduled event</button></p>`
      : html`<p><button type="button" onClick=${replay}>Replay</button></p>`)}
    <p role="status">${notice}</p>
    <${ErrorNote} error=${error} />
    <h2>Attempts</h2>
    ${delivery.attempts.length === 0 ? html`<p>No attempt yet.</p>` : html`<div class="table-wrap"><table>
      <thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Duration</th><th scope="col">Status</th><th scope="col">Error</th><th scope="col">Retry-After</th><th scope="col">Response</th></tr></thead>
      <tbody>${delivery.attempts.map((a: any) => html`<tr key=${a.attempt}>
        <td>${a.attempt}</td><td>${formatTime(a.startedAt)}</td><td>${a.durationMs} ms</td><td>${a.statusCode ?? '–'}</td><td>${a.error ?? ''}</td>
        <td>${a.responseHeaders?.['retry-after'] ?? ''}</td><td><pre class="excerpt">${a.responseExcerpt ?? ''}</pre></td></tr>`)}
      </tbody></table></div>`}
    <h2>The request as sent</h2>
    <${SentRequest} attempts=${delivery.attempts} />`;
}
