import { useEffect, useState } from 'preact/hooks';
import type { Api } from './api.ts';
import { exampleData, type CatalogEntry } from './example.ts';
import { ErrorNote, html, pretty, requestText, type Outbound } from './html.ts';


/**
 * The endpoint's transform, edited with a live preview of the exact request (headers and body) its
 * receiver would get for a catalog example, built by Herald's own request builder; and a test send.
 */
export function TransformEditor({ api, endpoint, can }: { api: Api; endpoint: any; can: (c: string) => boolean }) {
  const [catalog, setCatalog] = useState<CatalogEntry[]>([]);
  const [type, setType] = useState<string>('');
  const [data, setData] = useState('{}');
  const [bodyExpression, setBody] = useState<string>(endpoint.transform?.body ?? '');
  const [headerExpressions, setHeaders] = useState<string>(endpoint.transform?.headers ? JSON.stringify(endpoint.transform.headers, null, 2) : '');
  const [preview, setPreview] = useState<Outbound | undefined>();
  const [error, setError] = useState<unknown>();
  const [saved, setSaved] = useState<string>('');
  const [sent, setSent] = useState<any>();

  useEffect(() => {
    api<{ data: CatalogEntry[] }>('GET', '/v1/event-types?limit=200').then(({ data: types }) => {
      setCatalog(types);
      const first = types[0];
      setType(first?.name ?? 'example.event');
      setData(JSON.stringify(first ? exampleData(first.schema) : { example: true }, null, 2));
    }, setError);
  }, []);

  const transform = () => {
    const headers = headerExpressions.trim() ? JSON.parse(headerExpressions) : undefined;
    return bodyExpression.trim() || headers ? { ...(bodyExpression.trim() && { body: bodyExpression }), ...(headers && { headers }) } : null;
  };
  // Live: the preview follows every edit, a moment after typing stops.
  useEffect(() => {
    if (!type) return;
    const timer = setTimeout(async () => {
      try {
        const event = { type, data: JSON.parse(data) };
        const edited = transform();
        // Unchanged: the saved endpoint's own preview, its static headers included; edited: the definition as it stands.
        const definition = { url: endpoint.url, format: endpoint.format, signature: endpoint.signature, transform: edited };
        setPreview(JSON.stringify(edited) === JSON.stringify(endpoint.transform ?? null)
          ? await api<Outbound>('POST', `/v1/endpoints/${encodeURIComponent(endpoint.id)}/preview`, { event })
          : await api<Outbound>('POST', '/v1/endpoints/preview', { endpoint: definition, event }));
        setError(undefined);
      } catch (err) {
        setError(err);
      }
    }, 300);
    return () => clearTimeout(timer);
  }, [type, data, bodyExpression, headerExpressions]);

  const pick = (name: string) => {
    setType(name);
    setData(JSON.stringify(exampleData(catalog.find((t) => t.name === name)?.schema), null, 2));
  };
  const save = async () => {
    try {
      await api('PATCH', `/v1/endpoints/${encodeURIComponent(endpoint.id)}`, { transform: transform() });
      setSaved('Transform saved.');
    } catch (err) {
      setError(err);
    }
  };
  const testSend = async () => {
    setSent({ pending: true });
    try {
      setSent(await api('POST', `/v1/endpoints/${encodeURIComponent(endpoint.id)}/test`, { type, data: JSON.parse(data) }));
    } catch (err) {
      setSent({ error: err instanceof Error ? err.message : String(err) });
    }
  };
  const onInput = (setter: (value: string) => void) => (event: Event) => { setSaved(''); setter((event.currentTarget as HTMLTextAreaElement).value); };
  return html`
    <section aria-labelledby="transform-title">
      <h2 id="transform-title">Transform and preview</h2>
      <div class="split">
        <div class="form">
          <label for="t-type">Example event</label>
          <select id="t-type" value=${type} onChange=${(e: Event) => pick((e.currentTarget as HTMLSelectElement).value)}>
            ${catalog.length ? catalog.map((t) => html`<option value=${t.name}>${t.name}</option>`) : html`<option value=${type}>${type}</option>`}
          </select>
          <label for="t-data">Event data (JSON)</label>
          <textarea id="t-data" rows="6" value=${data} onInput=${onInput(setData)}></textarea>
          <label for="t-body">Body expression (JSONata; empty: the ${endpoint.format} format)</label>
          <textarea id="t-body" rows="4" value=${bodyExpression} onInput=${onInput(setBody)} readOnly=${!can('manageTransforms')}></textarea>
          <label for="t-headers">Header expressions (JSON object: name → JSONata)</label>
          <textarea id="t-headers" rows="3" value=${headerExpressions} onInput=${onInput(setHeaders)} readOnly=${!can('manageTransforms')}></textarea>
          <${ErrorNote} error=${error} />
          <div>
            ${can('manageTransforms') && html`<button type="button" onClick=${save}>Save transform</button> `}
            ${can('testSend') && html`<button type="button" class="secondary" onClick=${testSend}>Send test event</button>`}
          </div>
          <p role="status">${saved}</p>
        </div>
        <div>
          <h3>Request the receiver gets</h3>
          ${preview ? html`<pre class="request" data-testid="preview-request">${requestText(preview)}</pre>` : html`<p>…</p>`}
          ${sent && html`<h3>Test send</h3><pre class="request" data-testid="test-send-result">${sent.pending ? 'sending…' : pretty(sent)}</pre>`}
        </div>
      </div>
    </section>`;
}
