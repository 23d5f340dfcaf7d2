import { useEffect, useState } from 'preact/hooks';
import type { Api } from './api.ts';
import { exampleData, type CatalogEntry } from './example.ts';
import { ErrorNote, html } from './html.ts';

/** Each event type with its description, JSON Schema and an example: what a receiver's developer will get. */
export function CatalogPage({ api }: { api: Api }) {
  const [types, setTypes] = useState<CatalogEntry[] | undefined>();
  const [error, setError] = useState<unknown>();
  useEffect(() => { api<{ data: CatalogEntry[] }>('GET', '/v1/event-types?limit=200').then((page) => setTypes(page.data), setError); }, []);
  return html`
    <h1>Event catalog</h1>
    <${ErrorNote} error=${error} />
    ${types === undefined ? html`<p>Loading…</p>` : types.length === 0 ? html`<p>No event types declared: any type may arrive.</p>` : types.map((t) => html`
      <article class="card" key=${t.name} aria-labelledby=${`type-${t.name}`}>
        <h2 id=${`type-${t.name}`}>${t.name}</h2>
        <p>${t.description || 'No description.'}</p>
        <details><summary>JSON Schema</summary><pre>${t.schema ? JSON.stringify(t.schema, null, 2) : 'any data'}</pre></details>
        <details open><summary>Example data</summary><pre>${JSON.stringify(exampleData(t.schema), null, 2)}</pre></details>
      </article>`)}`;
}
