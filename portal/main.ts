import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { apiFor, exchange, forgetSession, saveSession, savedSession, type Api, type Session } from './api.ts';
import { CatalogPage } from './catalog.ts';
import { EndpointDetail } from './endpointDetail.ts';
import { EndpointForm } from './endpointForm.ts';
import { EndpointsPage } from './endpoints.ts';
import { ErrorNote, html } from './html.ts';
import { DeliveryPage, LogPage } from './log.ts';

const params = new URLSearchParams(location.search);

/** Embedding options from the URL: a brand colour, dark mode, no navigation (the host page has its own). */
function applyLook(): void {
  const colour = params.get('primaryColor');
  if (colour && /^#?[0-9a-fA-F]{3,8}$/.test(colour)) document.documentElement.style.setProperty('--primary', colour.startsWith('#') ? colour : `#${colour}`);
  if (params.get('darkMode') === 'true') document.documentElement.classList.add('dark');
  if (params.get('hideNav') === 'true') document.documentElement.classList.add('hide-nav');
}

/** The page a hash names: `#/endpoints/ep_1`, `#/log`…; `next=` (a path like /log) picks the first one. */
const currentRoute = () => (location.hash.startsWith('#/') ? location.hash.slice(1) : '/endpoints');

function useRoute(): string {
  const [route, setRoute] = useState(currentRoute());
  useEffect(() => {
    const onChange = () => setRoute(currentRoute());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

function Page({ route, api, session }: { route: string; api: Api; session: Session }) {
  const parts = route.split('/').filter(Boolean).map(decodeURIComponent);
  const can = (capability: string) => session.capabilities.includes(capability);
  if (parts[0] === 'log') return parts[1] ? html`<${DeliveryPage} api=${api} id=${parts[1]} can=${can} session=${session} />` : html`<${LogPage} api=${api} can=${can} />`;
  if (parts[0] === 'catalog') return html`<${CatalogPage} api=${api} />`;
  if (parts[0] === 'endpoints' && parts[1] === 'new') return html`<${EndpointForm} api=${api} />`;
  if (parts[0] === 'endpoints' && parts[1] && parts[2] === 'edit') return html`<${EndpointForm} api=${api} id=${parts[1]} can=${can} />`;
  if (parts[0] === 'endpoints' && parts[1]) return html`<${EndpointDetail} api=${api} id=${parts[1]} can=${can} />`;
  return html`<${EndpointsPage} api=${api} can=${can} narrowed=${session.endpointIds !== null} />`;
}

/** The operator console's tenant switcher: the tenants from /v1/tenants; choosing one swaps the session for one of that tenant. */
function TenantSwitcher({ api, session, onSwitched }: { api: Api; session: Session; onSwitched: (next: Session) => void }) {
  const [tenants, setTenants] = useState<{ id: string; name: string }[]>([]);
  const [error, setError] = useState<unknown>();
  useEffect(() => { api<{ data: { id: string; name: string }[] }>('GET', '/v1/tenants?limit=200').then(({ data }) => setTenants(data), setError); }, []);
  const choose = (tenant: string) => api<Session>('POST', '/v1/portal/switch', { tenant }).then(onSwitched, setError);
  return html`
    <label class="tenant-switcher">Tenant
      <select value=${session.tenant} onChange=${(e: Event) => choose((e.target as HTMLSelectElement).value)}>
        ${(tenants.some((t) => t.id === session.tenant) ? tenants : [{ id: session.tenant, name: '' }, ...tenants]).map((t) => html`<option value=${t.id}>${t.name ? `${t.id} (${t.name})` : t.id}</option>`)}
      </select>
    </label>
    <${ErrorNote} error=${error} />`;
}

function App({ session: opened }: { session: Session }) {
  const route = useRoute();
  const [session, setSession] = useState(opened);
  const [ended, setEnded] = useState(false);
  const api = apiFor(session, () => { forgetSession(); setEnded(true); });
  if (ended) return html`<${Refused} message="This portal session has ended (revoked or expired). Ask for a new link." />`;
  const section = route.split('/')[1];
  /** Another tenant's pages start at its endpoints: an id in the address belongs to the tenant left. */
  const switched = (next: Session) => {
    saveSession(next);
    setSession(next);
    location.hash = '#/endpoints';
  };
  const link = (to: string, label: string) => html`<a href=${`#/${to}`} aria-current=${section === to ? 'page' : undefined}>${label}</a>`;
  return html`
    <a class="skip" href="#main">Skip to content</a>
    <header>
      <span class="brand">Herald Portal</span>
      ${session.operator && session.endpointIds === null ? html`<${TenantSwitcher} api=${api} session=${session} onSwitched=${switched} />` : html`<span class="tenant">${session.tenant}</span>`}
      <nav aria-label="Portal">${link('endpoints', 'Endpoints')}${link('log', 'Message log')}${link('catalog', 'Event catalog')}</nav>
    </header>
    <main id="main" tabindex="-1" key=${session.token}><${Page} route=${route} api=${api} session=${session} /></main>`;
}

const Refused = ({ message }: { message: string }) => html`<main id="main" class="refused"><h1>Herald Portal</h1><p role="alert">${message}</p></main>`;

/** Spends the fragment's code once, then drops it from the address bar and history; a reload reuses the stored session. */
async function start(root: HTMLElement): Promise<void> {
  applyLook();
  const code = /^#code=([A-Za-z0-9_-]+)$/.exec(location.hash)?.[1];
  let session = savedSession();
  if (code) {
    const next = params.get('next');
    history.replaceState(null, '', `${location.pathname}${location.search}${next && next.startsWith('/') ? `#${next}` : ''}`);
    try {
      session = await exchange(code);
      saveSession(session);
    } catch {
      forgetSession();
      render(html`<${Refused} message="This link was already used or has expired. Ask for a new one." />`, root);
      return;
    }
  }
  if (!session) {
    render(html`<${Refused} message="Open the portal with the link you were given: this link was already used or has expired." />`, root);
    return;
  }
  render(html`<${App} session=${session} />`, root);
}

void start(document.getElementById('app')!);
