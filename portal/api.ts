/** The portal is a client of Herald's public /v1 API, with the session token from the link's code. */

const TOKEN_KEY = 'herald-portal-session';

export interface Session {
  token: string;
  sessionId: string;
  tenant: string;
  capabilities: string[];
  endpointIds: string[] | null;
  expiresAt: string;
  /** Issued with the admin key: the operator's console, which may switch tenants when it is not narrowed to endpoints. */
  operator: boolean;
  /** Admin-issued sessions: an event's workflow in the Temporal Web UI, `{tenant}` and `{eventId}` to fill in. */
  workflowUrl: string | null;
}

/** An answer other than 2xx: the problem document's detail and the fields it names. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly fields: { field: string; message: string }[] = []) {
    super(message);
  }
}

/** Session storage: it survives a reload of this tab, never reaches another tab or a URL. */
export const savedSession = (): Session | undefined => {
  const text = sessionStorage.getItem(TOKEN_KEY);
  return text ? (JSON.parse(text) as Session) : undefined;
};
export const saveSession = (session: Session) => sessionStorage.setItem(TOKEN_KEY, JSON.stringify(session));
export const forgetSession = () => sessionStorage.removeItem(TOKEN_KEY);

async function request<T>(method: string, path: string, body: unknown, token: string | undefined): Promise<T> {
  const response = await fetch(path, {
    method,
    headers: { accept: 'application/json', ...(token && { authorization: `Bearer ${token}` }), ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit',
    referrerPolicy: 'no-referrer',
  });
  const text = await response.text();
  const answer = text ? JSON.parse(text) : undefined;
  if (!response.ok) {
    const detail = typeof answer?.detail === 'string' ? answer.detail : `HTTP ${response.status}`;
    throw new ApiError(response.status, detail, Array.isArray(answer?.errors) ? answer.errors : []);
  }
  return answer as T;
}

/** Spends the link's code for a session (once). */
export const exchange = (code: string) => request<Session>('POST', '/v1/portal/exchange', { code }, undefined);

export type Api = <T = any>(method: string, path: string, body?: unknown) => Promise<T>;

/** Requests with the session's token; a 401 means the session ended (revoked or expired). */
export function apiFor(session: Session, onEnded: () => void): Api {
  return async (method, path, body) => {
    try {
      return await request(method, path, body, session.token);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) onEnded();
      throw err;
    }
  };
}

export const query = (params: Record<string, string | undefined>) => {
  const search = new URLSearchParams(Object.entries(params).filter((entry): entry is [string, string] => !!entry[1]));
  return search.size ? `?${search}` : '';
};
