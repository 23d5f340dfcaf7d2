import crypto from 'node:crypto';
import type { Db } from './db.ts';

export interface Tenant {
  id: string;
  name: string;
  /** How long its event data is kept, as declared ("30d"); null: Herald's default (HERALD_PAYLOAD_RETENTION). */
  payloadRetention: string | null;
  createdAt: string;
}

/** A tenant's API key as listed: never the key itself, which is shown once, at issue. */
export interface ApiKey {
  id: string;
  tenant: string;
  name: string;
  /** The key's visible start, `hk_<id>`, so a holder can tell which key they have. */
  prefix: string;
  createdAt: string;
}

interface TenantRow { id: string; name: string; payload_retention: string | null; created_at: Date | string }
interface ApiKeyRow { id: string; tenant: string; name: string; key_sha256: string; created_at: Date | string }

const iso = (value: Date | string) => new Date(value).toISOString();
const toTenant = (row: TenantRow): Tenant => ({ id: row.id, name: row.name, payloadRetention: row.payload_retention, createdAt: iso(row.created_at) });
const toApiKey = (row: ApiKeyRow): ApiKey => ({ id: row.id, tenant: row.tenant, name: row.name, prefix: `hk_${row.id}`, createdAt: iso(row.created_at) });

/** `hk_<key id>_<secret>`: the id finds the row, the SHA-256 of the whole key is compared in constant time. */
const apiKeyFormat = /^hk_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;

const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest();

/** Tenants and their API keys. Keys are stored as SHA-256 digests only. */
export class TenantStore {
  constructor(private readonly db: Db) {}

  /** Undefined when the id is taken. */
  async create(id: string, name: string, payloadRetention: string | null = null): Promise<Tenant | undefined> {
    const [row] = await this.db.query<TenantRow>(
      'INSERT INTO tenants (id, name, payload_retention) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING *',
      [id, name, payloadRetention],
    );
    return row && toTenant(row);
  }

  /** Changes the fields given; undefined when there is no such tenant. */
  async update(id: string, fields: { name?: string; payloadRetention?: string | null }): Promise<Tenant | undefined> {
    const [row] = await this.db.query<TenantRow>(
      `UPDATE tenants SET name = CASE WHEN $2 THEN $3 ELSE name END, payload_retention = CASE WHEN $4 THEN $5 ELSE payload_retention END
       WHERE id = $1 RETURNING *`,
      [id, fields.name !== undefined, fields.name ?? null, fields.payloadRetention !== undefined, fields.payloadRetention ?? null],
    );
    return row && toTenant(row);
  }

  /** The tenants whose payload retention is their own, with it as declared. */
  async payloadRetentions(): Promise<{ tenant: string; payloadRetention: string }[]> {
    const rows = await this.db.query<{ id: string; payload_retention: string }>('SELECT id, payload_retention FROM tenants WHERE payload_retention IS NOT NULL');
    return rows.map((row) => ({ tenant: row.id, payloadRetention: row.payload_retention }));
  }

  async list(page: { limit: number; after?: string }): Promise<Tenant[]> {
    const rows = await this.db.query<TenantRow>(
      'SELECT * FROM tenants WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2',
      [page.after ?? null, page.limit],
    );
    return rows.map(toTenant);
  }

  async get(id: string): Promise<Tenant | undefined> {
    const [row] = await this.db.query<TenantRow>('SELECT * FROM tenants WHERE id = $1', [id]);
    return row && toTenant(row);
  }

  /** Issues a key for an existing tenant; the returned `key` exists nowhere else. */
  async issueKey(tenant: string, name: string): Promise<ApiKey & { key: string }> {
    const id = crypto.randomBytes(8).toString('hex');
    const key = `hk_${id}_${crypto.randomBytes(32).toString('base64url')}`;
    const [row] = await this.db.query<ApiKeyRow>(
      'INSERT INTO api_keys (id, tenant, name, key_sha256) VALUES ($1, $2, $3, $4) RETURNING *',
      [id, tenant, name, sha256(key).toString('hex')],
    );
    return { ...toApiKey(row!), key };
  }

  async listKeys(tenant: string): Promise<ApiKey[]> {
    const rows = await this.db.query<ApiKeyRow>('SELECT * FROM api_keys WHERE tenant = $1 ORDER BY created_at, id', [tenant]);
    return rows.map(toApiKey);
  }

  /** False when the tenant has no such key. */
  async revokeKey(tenant: string, id: string): Promise<boolean> {
    const rows = await this.db.query('DELETE FROM api_keys WHERE tenant = $1 AND id = $2 RETURNING id', [tenant, id]);
    return rows.length > 0;
  }

  /** The key's record when `key` is a live key, otherwise undefined. Read on every request, so revocation is immediate. */
  async authenticate(key: string): Promise<ApiKey | undefined> {
    const id = apiKeyFormat.exec(key)?.[1];
    if (!id) return undefined;
    const [row] = await this.db.query<ApiKeyRow>('SELECT * FROM api_keys WHERE id = $1', [id]);
    if (!row) return undefined;
    return crypto.timingSafeEqual(sha256(key), Buffer.from(row.key_sha256, 'hex')) ? toApiKey(row) : undefined;
  }
}

/** True when a bearer token has the form of a tenant key (as opposed to the admin key). */
export const isTenantKeyFormat = (token: string) => token.startsWith('hk_');
