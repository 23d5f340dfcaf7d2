import crypto from 'node:crypto';
import type { Db } from '../storage/db.ts';

/** What a portal session may do beyond reading; `view` is every session's floor. */
export const portalCapabilities = ['view', 'manageEndpoints', 'viewSecrets', 'rotateSecrets', 'replay', 'testSend', 'manageTransforms'] as const;
export type PortalCapability = (typeof portalCapabilities)[number];

export interface PortalSession {
  tenant: string;
  id: string;
  capabilities: PortalCapability[];
  /** null: every endpoint of the tenant. */
  endpointIds: string[] | null;
  /** Issued with the admin key (the operator's console). */
  operator: boolean;
  expiresAt: string;
}

interface SessionRow {
  tenant: string; id: string; capabilities: PortalCapability[]; endpoint_ids: string[] | null; operator: boolean;
  expires_at: Date | string;
}

const toSession = (row: SessionRow): PortalSession => ({
  tenant: row.tenant, id: row.id, capabilities: row.capabilities, endpointIds: row.endpoint_ids, operator: row.operator, expiresAt: new Date(row.expires_at).toISOString(),
});

/** Codes travel in a link's fragment, tokens in an Authorization header; both 256 random bits. */
const CODE_PREFIX = 'hpc_';
const TOKEN_PREFIX = 'hps_';
const secretWith = (prefix: string) => `${prefix}${crypto.randomBytes(32).toString('base64url')}`;
const digest = (text: string) => crypto.createHash('sha256').update(text).digest('hex');

/** True when a bearer token has the form of a portal session token. */
export const isPortalTokenFormat = (token: string) => token.startsWith(TOKEN_PREFIX);

/**
 * Portal sessions: opened by a single-use code, then carried by a token. Only SHA-256 digests of
 * either are stored; a row is looked up by its digest (256 random bits leave nothing to guess).
 */
export class PortalSessionStore {
  constructor(private readonly db: Db) {}

  /** Undefined when the tenant already has a live session with this id. */
  async create(session: Omit<PortalSession, 'id' | 'expiresAt'> & { id?: string; expiresInMs: number }): Promise<{ session: PortalSession; code: string } | undefined> {
    const code = secretWith(CODE_PREFIX);
    const id = session.id ?? `ps_${crypto.randomBytes(8).toString('hex')}`;
    // A label may be used again once its session has ended.
    const [row] = await this.db.query<SessionRow>(
      `INSERT INTO portal_sessions (tenant, id, capabilities, endpoint_ids, code_sha256, expires_at, operator)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::double precision / 1000), $7)
       ON CONFLICT (tenant, id) DO UPDATE SET capabilities = EXCLUDED.capabilities, endpoint_ids = EXCLUDED.endpoint_ids, operator = EXCLUDED.operator,
         code_sha256 = EXCLUDED.code_sha256, code_used_at = NULL, token_sha256 = NULL, expires_at = EXCLUDED.expires_at,
         revoked_at = NULL, created_at = now()
       WHERE portal_sessions.revoked_at IS NOT NULL OR portal_sessions.expires_at <= now()
       RETURNING *`,
      [session.tenant, id, JSON.stringify(session.capabilities), session.endpointIds && JSON.stringify(session.endpointIds), digest(code), session.expiresInMs, session.operator],
    );
    return row && { session: toSession(row), code };
  }

  /** Spends a code once: the session and its new token, or undefined when the code is unknown, used, expired or revoked. */
  async exchange(code: string): Promise<{ session: PortalSession; token: string } | undefined> {
    if (!code.startsWith(CODE_PREFIX)) return undefined;
    const token = secretWith(TOKEN_PREFIX);
    const [row] = await this.db.query<SessionRow>(
      `UPDATE portal_sessions SET code_used_at = now(), token_sha256 = $2
       WHERE code_sha256 = $1 AND code_used_at IS NULL AND revoked_at IS NULL AND expires_at > now() RETURNING *`,
      [digest(code), digest(token)],
    );
    return row && { session: toSession(row), token };
  }

  /**
   * The live session a token carries. Read on every request, so a revocation ends it at the next one; a session
   * opened by a tenant switch also ends with the operator's session it came from.
   */
  async authenticate(token: string): Promise<PortalSession | undefined> {
    if (!isPortalTokenFormat(token)) return undefined;
    const [row] = await this.db.query<SessionRow>(
      `SELECT s.* FROM portal_sessions s WHERE s.token_sha256 = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
         AND (s.root_token_sha256 IS NULL OR EXISTS (
           SELECT 1 FROM portal_sessions root WHERE root.token_sha256 = s.root_token_sha256 AND root.revoked_at IS NULL AND root.expires_at > now()))`,
      [digest(token)],
    );
    return row && toSession(row);
  }

  /**
   * The operator console's tenant switch: from a live operator session of a whole tenant, a session for `tenant`
   * with the same capabilities and end, already exchanged. Undefined when the token carries no such session.
   */
  async switchTenant(token: string, tenant: string): Promise<{ session: PortalSession; token: string } | undefined> {
    const current = await this.authenticate(token);
    if (!current?.operator || current.endpointIds !== null) return undefined;
    const switched = secretWith(TOKEN_PREFIX);
    const [row] = await this.db.query<SessionRow>(
      `INSERT INTO portal_sessions (tenant, id, capabilities, endpoint_ids, operator, code_sha256, code_used_at, token_sha256, expires_at, root_token_sha256)
       SELECT $2, $3, capabilities, NULL, true, $4, now(), $5, expires_at, COALESCE(root_token_sha256, token_sha256)
       FROM portal_sessions WHERE token_sha256 = $1
       RETURNING *`,
      // The code column wants a value: the digest of a code nobody is ever given.
      [digest(token), tenant, `ps_${crypto.randomBytes(8).toString('hex')}`, digest(secretWith(CODE_PREFIX)), digest(switched)],
    );
    return row && { session: toSession(row), token: switched };
  }

  /** False when the tenant has no such live session. */
  async revoke(tenant: string, id: string): Promise<boolean> {
    const rows = await this.db.query(
      'UPDATE portal_sessions SET revoked_at = now() WHERE tenant = $1 AND id = $2 AND revoked_at IS NULL AND expires_at > now() RETURNING id',
      [tenant, id],
    );
    return rows.length > 0;
  }

  /** Ends every live session of the tenant; answers how many. */
  async revokeAll(tenant: string): Promise<number> {
    const rows = await this.db.query(
      'UPDATE portal_sessions SET revoked_at = now() WHERE tenant = $1 AND revoked_at IS NULL AND expires_at > now() RETURNING id',
      [tenant],
    );
    return rows.length;
  }

  /** Origins allowed to frame the tenant's portal; empty: the portal's own origin only. */
  async frameAncestors(tenant: string): Promise<string[]> {
    const [row] = await this.db.query<{ origins: string[] }>('SELECT origins FROM portal_frame_ancestors WHERE tenant = $1', [tenant]);
    return row?.origins ?? [];
  }

  async setFrameAncestors(tenant: string, origins: string[]): Promise<void> {
    await this.db.query(
      `INSERT INTO portal_frame_ancestors (tenant, origins) VALUES ($1, $2)
       ON CONFLICT (tenant) DO UPDATE SET origins = EXCLUDED.origins`,
      [tenant, JSON.stringify(origins)],
    );
  }
}
