import { useEffect, useState } from 'preact/hooks';
import type { Api } from './api.ts';
import { Badge, ErrorNote, formatTime, html, percent } from './html.ts';

interface Row { id: string; createdAt: string; url: string; description: string; enabled: boolean; readOnly?: boolean; health?: { state: string; lastSuccessAt: string | null }; stats?: { successRate: number | null } }

/** Each endpoint, oldest first, with its health, its success rate over 24 h and its last success; the actions its session allows. */
export function EndpointsPage({ api, can, narrowed }: { api: Api; can: (c: string) => boolean; narrowed: boolean }) {
  const [rows, setRows] = useState<Row[] | undefined>();
  const [error, setError] = useState<unknown>();
  const [reload, setReload] = useState(0);
  useEffect(() => {
    (async () => {
      const { data } = await api<{ data: Row[] }>('GET', '/v1/endpoints?limit=200');
      // In the order they were added (the API pages by id, which says nothing to a reader).
      data.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
      setRows(await Promise.all(data.map(async (endpoint) => {
        const [detail, stats] = await Promise.all([api<Row>('GET', `/v1/endpoints/${encodeURIComponent(endpoint.id)}`), api('GET', `/v1/endpoints/${encodeURIComponent(endpoint.id)}/stats?window=24h`)]);
        return { ...endpoint, health: detail.health, stats };
      })));
    })().catch(setError);
  }, [reload]);

  const act = (action: () => Promise<unknown>) => action().then(() => setReload((n) => n + 1), setError);
  const toggle = (row: Row) => act(() => api('PATCH', `/v1/endpoints/${encodeURIComponent(row.id)}`, { enabled: !row.enabled }));
  const remove = (row: Row) => {
    if (window.confirm(`Delete the endpoint ${row.url}? Deliveries under way to it then fail.`)) act(() => api('DELETE', `/v1/endpoints/${encodeURIComponent(row.id)}`));
  };
  const manage = can('manageEndpoints');
  return html`
    <h1>Endpoints</h1>
    ${manage && !narrowed && html`<p><a class="button" href="#/endpoints/new">Add endpoint</a></p>`}
    <${ErrorNote} error=${error} />
    ${rows === undefined ? html`<p>Loading…</p>` : rows.length === 0 ? html`<p>No endpoints yet.</p>` : html`
      <div class="table-wrap"><table>
        <thead><tr><th scope="col">URL</th><th scope="col">Health</th><th scope="col">Success (24 h)</th><th scope="col">Last success</th><th scope="col">Actions</th></tr></thead>
        <tbody>${rows.map((row) => html`
          <tr key=${row.id}>
            <td><a href=${`#/endpoints/${encodeURIComponent(row.id)}`}>${row.url}</a>${row.description && html`<div class="muted">${row.description}</div>`}</td>
            <td><${Badge} value=${row.health?.state ?? 'unknown'} /></td>
            <td>${percent(row.stats?.successRate)}</td>
            <td>${formatTime(row.health?.lastSuccessAt)}</td>
            <td class="actions">${manage && !row.readOnly ? html`
              <a class="button secondary" href=${`#/endpoints/${encodeURIComponent(row.id)}/edit`}>Edit</a>
              <button type="button" class="secondary" onClick=${() => toggle(row)}>${row.enabled ? 'Disable' : 'Enable'}</button>
              <button type="button" class="danger" onClick=${() => remove(row)}>Delete</button>` : null}</td>
          </tr>`)}
        </tbody>
      </table></div>`}`;
}
