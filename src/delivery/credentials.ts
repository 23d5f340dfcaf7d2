import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { deliveryDispatcher, type DeliveryDispatcherOptions } from './destinations.ts';
import { send, SendError } from './send.ts';

/** An endpoint's `auth` with its secret in clear (src/endpoints/auth.ts defines and checks it). */
export type AttemptAuth =
  | { type: 'oauth2-client-credentials'; tokenUrl: string; clientId: string; clientSecret: string; scope?: string; audience?: string }
  | { type: 'basic'; username: string; password: string }
  | { type: 'mtls'; certificate: string; privateKey: string };

/** What an attempt needs to know of its endpoint to authenticate and connect: its authentication, whether it goes through the egress proxy, and a version that changes when it is edited. */
export interface AuthenticatedEndpoint {
  id: string;
  updatedAt: string;
  timeoutMs: number;
  auth: AttemptAuth | null;
  /** False: straight to the receiver (and its token server), past HERALD_EGRESS_PROXY. */
  proxy: boolean;
}

type OAuth2 = Extract<AttemptAuth, { type: 'oauth2-client-credentials' }>;

/** RFC 6749 §5.1; token_type is not checked: some servers answer "bearer", some "Bearer", some leave it out. */
const tokenResponse = z.object({ access_token: z.string().min(1), expires_in: z.coerce.number().positive().optional() });
/** When the token server says nothing of the lifetime. */
const DEFAULT_TOKEN_LIFETIME_S = 300;
/** A token is renewed this long before it expires (at most 30 s, a tenth of its lifetime), so none expires in flight. */
const renewalMarginMs = (lifetimeMs: number) => Math.min(30_000, lifetimeMs / 10);
/** Token responses carry JWTs of a few KiB; more than this is not a token response. */
const TOKEN_RESPONSE_BYTES = 64 * 1024;

interface CachedToken {
  version: string;
  /** Settled or in flight: concurrent attempts share one token request. */
  token: Promise<string>;
  renewAt: number;
}

/**
 * Endpoint authentication and connections for a worker's attempts: the HTTP agents they go through
 * (through the egress proxy or, for endpoints with `proxy: false`, past it); the OAuth2 tokens it
 * fetched, cached per endpoint and shared by every attempt; the Authorization header of basic and
 * bearer auth; the client certificate of mTLS, as an HTTP agent per endpoint. Token requests and mTLS
 * connections go the same way, under the same destination guard, as deliveries. An endpoint without
 * `auth` costs one property check.
 */
export class EndpointCredentials {
  private readonly tokens = new Map<string, CachedToken>();
  private readonly clientCertificateAgents = new Map<string, { version: string; dispatcher: Dispatcher }>();
  /** The agents of deliveries without a client certificate, and of token requests. */
  private readonly shared: { proxied: Dispatcher; direct: Dispatcher };

  /** `agents`: how every agent is built (the guard, keep-alive, the egress proxy). */
  constructor(private readonly agents: DeliveryDispatcherOptions) {
    const direct = deliveryDispatcher({ ...agents, proxy: undefined });
    this.shared = { direct, proxied: agents.proxy ? deliveryDispatcher(agents) : direct };
  }

  /**
   * The Authorization header the endpoint's auth sends, if any. `rejected`: the header a receiver
   * just answered 401 to; its token is dropped and a fresh one fetched (unless another attempt
   * already did). Throws a SendError when the token request fails: a `auth: token request failed: …`.
   */
  async authorization(endpoint: AuthenticatedEndpoint, options: { rejected?: string } = {}): Promise<string | undefined> {
    const { auth } = endpoint;
    if (auth?.type === 'basic') return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    if (auth?.type !== 'oauth2-client-credentials') return undefined;
    const version = `${endpoint.updatedAt}`;
    let cached = this.tokens.get(endpoint.id);
    const stale = !cached || cached.version !== version || cached.renewAt <= Date.now()
      || (options.rejected !== undefined && options.rejected === `Bearer ${await cached.token.catch(() => '')}`);
    if (stale) {
      // Not aborted with the attempt that started it: others wait for it too. The endpoint's timeout bounds it.
      const token = this.requestToken(auth, endpoint);
      cached = { version, token: token.then(({ accessToken }) => accessToken), renewAt: Number.POSITIVE_INFINITY };
      this.tokens.set(endpoint.id, cached);
      const entry = cached;
      token.then(({ lifetimeMs }) => { entry.renewAt = Date.now() + lifetimeMs - renewalMarginMs(lifetimeMs); }, () => {
        // A failed request is not cached: the next attempt asks again.
        if (this.tokens.get(endpoint.id) === entry) this.tokens.delete(endpoint.id);
      });
    }
    return `Bearer ${await cached!.token}`;
  }

  /** The agent to send with: one presenting the client certificate for mTLS, a shared one otherwise. */
  dispatcherFor(endpoint: AuthenticatedEndpoint): Dispatcher {
    const { auth } = endpoint;
    if (auth?.type !== 'mtls') return this.sharedFor(endpoint);
    const cached = this.clientCertificateAgents.get(endpoint.id);
    if (cached?.version === endpoint.updatedAt) return cached.dispatcher;
    // An edited certificate (or proxy setting): the old agent finishes its requests and closes.
    void cached?.dispatcher.close();
    const dispatcher = deliveryDispatcher({
      ...this.agents, clientCertificate: { cert: auth.certificate, key: auth.privateKey }, proxy: endpoint.proxy ? this.agents.proxy : undefined,
    });
    this.clientCertificateAgents.set(endpoint.id, { version: endpoint.updatedAt, dispatcher });
    return dispatcher;
  }

  /** Closes every agent. */
  async close(): Promise<void> {
    const agents = new Set([...this.clientCertificateAgents.values()].map(({ dispatcher }) => dispatcher).concat(this.shared.direct, this.shared.proxied));
    await Promise.all([...agents].map((dispatcher) => dispatcher.close()));
    this.clientCertificateAgents.clear();
  }

  private sharedFor(endpoint: Pick<AuthenticatedEndpoint, 'proxy'>): Dispatcher {
    return endpoint.proxy ? this.shared.proxied : this.shared.direct;
  }

  /** RFC 6749 §4.4, the client authenticated with HTTP basic (§2.3.1, which every token server supports). */
  private async requestToken(auth: OAuth2, endpoint: AuthenticatedEndpoint): Promise<{ accessToken: string; lifetimeMs: number }> {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (auth.scope) form.set('scope', auth.scope);
    if (auth.audience) form.set('audience', auth.audience);
    const client = `${encodeURIComponent(auth.clientId)}:${encodeURIComponent(auth.clientSecret)}`;
    const failed = (reason: string, kind: SendError['kind'] = 'connection', cause?: unknown) => new SendError(kind, `auth: token request failed: ${reason}`, { cause });
    let response;
    try {
      response = await send({
        url: auth.tokenUrl, body: form.toString(), timeoutMs: endpoint.timeoutMs, dispatcher: this.sharedFor(endpoint), excerptBytes: TOKEN_RESPONSE_BYTES,
        headers: { authorization: `Basic ${Buffer.from(client).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      });
    } catch (err) {
      if (err instanceof SendError) throw failed(err.message, err.kind, err);
      throw err;
    }
    // Neither the body nor its error_description is repeated: a token server may echo what it was sent.
    if (response.status < 200 || response.status >= 300) throw failed(`HTTP ${response.status}`);
    let parsed;
    try {
      parsed = tokenResponse.safeParse(JSON.parse(response.excerpt ?? ''));
    } catch {
      throw failed('the answer is not JSON');
    }
    if (!parsed.success) throw failed('the answer has no access_token');
    return { accessToken: parsed.data.access_token, lifetimeMs: (parsed.data.expires_in ?? DEFAULT_TOKEN_LIFETIME_S) * 1000 };
  }
}
