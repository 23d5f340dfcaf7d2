import { useEffect, useState } from 'preact/hooks';
import type { Api } from './api.ts';
import { StatsChart, type WindowStats } from './chart.ts';
import { Badge, ErrorNote, formatTime, html, percent } from './html.ts';
import { describeAuth } from './endpointAuth.ts';
import { DeliveryRows } from './log.ts';
import { TransformEditor } from './transformEditor.ts';

const windows = [['1h', '1 h'], ['24h', '24 h'], ['7d', '7 d']];

/** One endpoint: its health and numbers, what it receives (types, channels, filter), its secret, its transform with a live preview, its recent deliveries. */
export function EndpointDetail({ api, id, can }: { api: Api; id: string; can: (c: string) => boolean }) {
  const [endpoint, setEndpoint] = useState<any>();
  const [chartWindow, setChartWindow] = useState('24h');
  const [stats, setStats] = useState<WindowStats | undefined>();
  const [day, setDay] = useState<{ successRate: number | null } | undefined>();
  const [recent, setRecent] = useState<any[]>([]);
  const [secret, setSecret] = useState<{ secret: string; previousSecretExpiresAt: string | null } | undefined>();
  const [since, setSince] = useState(() => new Date(Date.now() - 86_400_000).toISOString().slice(0, 16));
  const [notice, setNotice] = useState('');
  const [error, setError] = useState<unknown>();
  const path = `/v1/endpoints/${encodeURIComponent(id)}`;
  useEffect(() => {
    api('GET', path).then(setEndpoint, setError);
    api('GET', `${path}/stats?window=24h`).then(setDay, setError);
    api<{ data: any[] }>('GET', `/v1/deliveries?endpointId=${encodeURIComponent(id)}&limit=10`).then((page) => setRecent(page.data), setError);
  }, [id]);
  useEffect(() => {
    api<WindowStats>('GET', `${path}/stats?window=${chartWindow}&series=true`).then(setStats, setError);
  }, [id, chartWindow]);
  if (!endpoint) return html`<${ErrorNote} error=${error} /><p>Loading…</p>`;

  const attempt = (action: () => Promise<void>) => action().catch(setError);
  const reveal = () => attempt(async () => setSecret(await api('GET', `${path}/secret`)));
  const rotate = () => attempt(async () => {
    if (!window.confirm('Rotate the secret? The current one keeps signing alongside the new one for 24 hours.')) return;
    const rotated = await api('POST', `${path}/rotate-secret`, { gracePeriod: '24h' });
    setSecret({ secret: rotated.secret, previousSecretExpiresAt: rotated.previousSecretExpiresAt });
  });
  const recover = (event: Event) => {
    event.preventDefault();
    attempt(async () => {
      const answer = await api('POST', `${path}/recover`, { since: new Date(since).toISOString() });
      setNotice(`${answer.replayed.length} failed deliveries sent again.`);
    });
  };
  return html`
    <p><a href="#/endpoints">← Endpoints</a></p>
    <h1 class="wrap">${endpoint.url}</h1>
    ${endpoint.description && html`<p>${endpoint.description}</p>`}
    <dl class="facts">
      <dt>Health</dt><dd><${Badge} value=${endpoint.health?.state ?? 'unknown'} /></dd>
      <dt>Success (24 h)</dt><dd>${percent(day?.successRate)}</dd>
      <dt>Last success</dt><dd>${formatTime(endpoint.health?.lastSuccessAt)}</dd>
      <dt>Event types</dt><dd>${endpoint.eventTypes.join(', ')}</dd>
      <dt>Format / signature</dt><dd>${endpoint.format} / ${endpoint.signature.scheme}</dd>
      ${describeAuth(endpoint.auth).map(([term, value]) => html`<dt>${term}</dt><dd>${value}</dd>`)}
      <dt>Channels</dt><dd data-testid="channels">${endpoint.channels ? endpoint.channels.join(', ') : 'any: every event of its types, whatever its channels'}</dd>
      <dt>Filter</dt><dd data-testid="filter">${endpoint.filter ? html`<code class="expression">${endpoint.filter}</code>` : 'none: every event of its types'}</dd>
      <dt>Egress proxy</dt><dd data-testid="proxy">${endpoint.proxy === false ? 'bypassed: requests go straight to the receiver' : 'used when the operator configured one'}</dd>
    </dl>
    ${can('manageEndpoints') && !endpoint.readOnly && html`<p><a class="button secondary" href=${`#/endpoints/${encodeURIComponent(id)}/edit`}>Edit</a></p>`}
    <${ErrorNote} error=${error} />
    <section aria-labelledby="stats-title"><h2 id="stats-title">Attempts and latency</h2>
      <div role="group" aria-label="Time range">${windows.map(([value, label]) => html`
        <button type="button" class="chip" aria-pressed=${chartWindow === value} onClick=${() => setChartWindow(value!)}>${label}</button>`)}</div>
      ${stats?.window === chartWindow && html`<${StatsChart} stats=${stats} />`}</section>
    ${(can('viewSecrets') || can('rotateSecrets')) && html`
      <section aria-labelledby="secret-title"><h2 id="secret-title">Signing secret</h2>
        ${secret ? html`<p><code class="secret" data-testid="secret">${secret.secret}</code></p>
          <p>${secret.previousSecretExpiresAt ? `The previous secret also signs until ${formatTime(secret.previousSecretExpiresAt)}.` : 'No previous secret signs any more.'}</p>` : null}
        ${can('viewSecrets') && html`<button type="button" class="secondary" onClick=${reveal}>Reveal secret</button> `}
        ${can('rotateSecrets') && html`<button type="button" class="secondary" onClick=${rotate}>Rotate secret</button>`}
      </section>`}
    <${TransformEditor} api=${api} endpoint=${endpoint} can=${can} />
    <section aria-labelledby="recent-title"><h2 id="recent-title">Recent deliveries</h2><${DeliveryRows} rows=${recent} />
      ${can('replay') && html`<form class="inline-form" onSubmit=${recover}>
        <label for="recover-since">Send every failed delivery again since</label>
        <input id="recover-since" type="datetime-local" value=${since} onInput=${(e: Event) => setSince((e.currentTarget as HTMLInputElement).value)} />
        <button type="submit" class="secondary">Recover</button></form><p role="status">${notice}</p>`}
    </section>`;
}
