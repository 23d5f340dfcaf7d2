import { useEffect, useState } from 'preact/hooks';
import type { Api } from './api.ts';
import { AuthFields, authBody, authDraftOf, type AuthDraft } from './endpointAuth.ts';
import { ErrorNote, FieldError, html } from './html.ts';

const formats = ['standard', 'make', 'flat', 'booking', 'envelope'];
const schemes = ['standard-webhooks', 'hmac-sha256', 'shared-secret', 'none'];

interface Draft {
  url: string; description: string; eventTypes: string; format: string; scheme: string; retryPolicy: string;
  perSecond: string; fifo: boolean; disableAfter: string; proxy: boolean; filter: string; channels: string; auth: AuthDraft;
}

const blank: Draft = {
  url: '', description: '', eventTypes: '*', format: 'standard', scheme: 'standard-webhooks', retryPolicy: 'standard', perSecond: '', fifo: false, disableAfter: '',
  proxy: true, filter: '', channels: '', auth: authDraftOf(null),
};

/** The API's field each box answers for: its errors show beside the box. */
const apiFieldOf: Partial<Record<keyof Draft, string>> = { scheme: 'signature', perSecond: 'rateLimit' };

const listOf = (text: string) => text.split(',').map((t) => t.trim()).filter(Boolean);

/**
 * The form as the API takes it; an empty box leaves Herald's default (when editing, the rate limit, ordering,
 * filter and channels boxes emptied remove them: null). `current`: the endpoint's authentication as read.
 */
function body(draft: Draft, editing: boolean, current: any | null) {
  let retryPolicy: unknown = draft.retryPolicy.trim();
  if (typeof retryPolicy === 'string' && retryPolicy.startsWith('{')) retryPolicy = JSON.parse(retryPolicy);
  const cleared = editing ? null : undefined;
  const channels = listOf(draft.channels);
  return {
    url: draft.url, description: draft.description, format: draft.format, signature: { scheme: draft.scheme }, retryPolicy,
    eventTypes: listOf(draft.eventTypes),
    rateLimit: draft.perSecond ? { perSecond: Number(draft.perSecond) } : cleared,
    ordering: draft.fifo ? 'fifo' : cleared,
    filter: draft.filter.trim() ? draft.filter : cleared,
    channels: channels.length ? channels : cleared,
    disableAfter: draft.disableAfter ? (draft.disableAfter === 'never' ? null : draft.disableAfter) : undefined,
    proxy: draft.proxy, auth: authBody(draft.auth, current),
  };
}

/** Create or edit an endpoint; event types are picked from the catalog or written as patterns (`order.*`, `*`). */
export function EndpointForm({ api, id }: { api: Api; id?: string }) {
  const [draft, setDraft] = useState<Draft | undefined>(id ? undefined : blank);
  const [catalog, setCatalog] = useState<string[]>([]);
  const [error, setError] = useState<unknown>();
  const [created, setCreated] = useState<{ id: string; secret: string } | undefined>();
  const [currentAuth, setCurrentAuth] = useState<any | null>(null);
  useEffect(() => {
    api<{ data: { name: string }[] }>('GET', '/v1/event-types?limit=200').then((page) => setCatalog(page.data.map((t) => t.name)), setError);
    if (id) {
      api('GET', `/v1/endpoints/${encodeURIComponent(id)}`).then((e) => {
        setCurrentAuth(e.auth ?? null);
        setDraft({
          url: e.url, description: e.description, eventTypes: e.eventTypes.join(', '), format: e.format, scheme: e.signature.scheme,
          retryPolicy: typeof e.retryPolicy === 'string' ? e.retryPolicy : JSON.stringify(e.retryPolicy), perSecond: e.rateLimit ? String(e.rateLimit.perSecond) : '',
          fifo: e.ordering === 'fifo', disableAfter: e.disableAfter ?? '', proxy: e.proxy !== false,
          filter: e.filter ?? '', channels: (e.channels ?? []).join(', '), auth: authDraftOf(e.auth),
        });
      }, setError);
    }
  }, [id]);
  if (created) {
    return html`<h1>Endpoint added</h1>
      <p>Its signing secret, shown in full only now (it can be revealed again if your session allows):</p>
      <p><code class="secret">${created.secret}</code></p>
      <p><a class="button" href=${`#/endpoints/${encodeURIComponent(created.id)}`}>Open the endpoint</a></p>`;
  }
  if (!draft) return html`<${ErrorNote} error=${error} /><p>Loading…</p>`;
  const set = (field: keyof Draft) => (event: Event) => {
    const input = event.currentTarget as HTMLInputElement;
    setDraft({ ...draft, [field]: input.type === 'checkbox' ? input.checked : input.value });
  };
  const addType = (name: string) => setDraft({ ...draft, eventTypes: [...listOf(draft.eventTypes).filter((t) => t !== '*'), name].join(', ') });
  const submit = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    try {
      if (id) {
        await api('PATCH', `/v1/endpoints/${encodeURIComponent(id)}`, body(draft, true, currentAuth));
        location.hash = `#/endpoints/${encodeURIComponent(id)}`;
      } else {
        setCreated(await api('POST', '/v1/endpoints', body(draft, false, null)));
      }
    } catch (err) {
      setError(err);
    }
  };
  const fieldError = (name: keyof Draft) => html`<${FieldError} error=${error} fields=${[apiFieldOf[name] ?? name]} id=${`e-${name}`} nested />`;
  const field = (name: keyof Draft, label: string, hint?: string) => html`
    <label for=${`f-${name}`}>${label}</label>
    <input id=${`f-${name}`} name=${name} value=${draft[name] as string} onInput=${set(name)} aria-describedby=${`${hint ? `h-${name} ` : ''}e-${name}`} />
    ${hint && html`<small id=${`h-${name}`}>${hint}</small>`}${fieldError(name)}`;
  const select = (name: keyof Draft, label: string, options: string[]) => html`
    <label for=${`f-${name}`}>${label}</label>
    <select id=${`f-${name}`} name=${name} value=${draft[name] as string} onChange=${set(name)} aria-describedby=${`e-${name}`}>${options.map((o) => html`<option value=${o}>${o}</option>`)}</select>
    ${fieldError(name)}`;
  return html`
    <h1>${id ? 'Edit endpoint' : 'Add endpoint'}</h1>
    <form class="form" onSubmit=${submit} novalidate>
      ${field('url', 'URL', 'http or https; where Herald sends the requests')}
      ${field('description', 'Description')}
      ${field('eventTypes', 'Event types', 'comma-separated; a type, a family such as order.*, or * for every type')}
      ${catalog.length > 0 && html`<div class="chips" role="group" aria-label="Add an event type from the catalog">${catalog.map((name) => html`<button type="button" class="chip" onClick=${() => addType(name)}>+ ${name}</button>`)}</div>`}
      ${select('format', 'Body format', formats)}
      ${select('scheme', 'Signature scheme', schemes)}
      ${field('channels', 'Channels', 'comma-separated; only events posted in one of them; empty: every event of its types, whatever its channels')}
      <label for="f-filter">Filter</label>
      <textarea id="f-filter" name="filter" rows="3" spellcheck="false" value=${draft.filter} onInput=${set('filter')} aria-describedby="h-filter e-filter"></textarea>
      <small id="h-filter">JSONata over {event: {id, type, tenant, occurredAt, data, channels, tags}}: only events for which it gives true; empty: no filter</small>
      ${fieldError('filter')}
      ${field('retryPolicy', 'Retry policy', 'standard, make, none, or a policy as JSON')}
      ${field('perSecond', 'Rate limit (requests per second)', 'empty: no limit')}
      <label class="inline"><input type="checkbox" checked=${draft.fifo} onChange=${set('fifo')} /> Deliver in order (FIFO), one at a time</label>
      ${field('disableAfter', 'Disable after failing for', 'a duration such as 5d; never; empty: Herald\'s default')}
      <label class="inline"><input type="checkbox" name="proxy" checked=${draft.proxy} onChange=${set('proxy')} aria-describedby="h-proxy" /> Send through Herald's egress proxy</label>
      <small id="h-proxy">when the operator configured one (a fixed egress address); unchecked, requests go straight to the receiver</small>
      <${AuthFields} draft=${draft.auth} current=${currentAuth} error=${error} onChange=${(auth: AuthDraft) => setDraft({ ...draft, auth })} />
      <${ErrorNote} error=${error} />
      <div><button type="submit">${id ? 'Save' : 'Add endpoint'}</button> <a class="button secondary" href="#/endpoints">Cancel</a></div>
    </form>`;
}
