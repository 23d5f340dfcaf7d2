import type { Db } from './db.ts';

/** One management action as the audit log keeps it. */
export interface AuditRecord {
  id: string;
  at: string;
  /** The tenant acted on; null for the admin's actions on no one tenant. */
  tenant: string | null;
  /** `admin`, `key:<key id>` or `portal:<session id>`: never a secret. */
  actor: string;
  /** `<METHOD> <route>`, e.g. `PATCH /v1/endpoints/:id`. */
  action: string;
  /** What was acted on: the path, or the created resource's. */
  target: string;
  /** The fields the request sent, secrets masked. */
  changes: unknown;
  status: number;
}

interface AuditRow { id: string; at: Date | string; tenant: string | null; actor: string; action: string; target: string; changes: unknown; status: number }
const toRecord = (row: AuditRow): AuditRecord => ({ ...row, id: String(row.id), at: new Date(row.at).toISOString() });

/** Who did what to which resource, for HERALD_AUDIT_RETENTION. */
export class AuditLog {
  constructor(private readonly db: Db) {}

  async record(entry: Omit<AuditRecord, 'id' | 'at'>): Promise<void> {
    await this.db.query(
      'INSERT INTO audit_log (tenant, actor, action, target, changes, status) VALUES ($1, $2, $3, $4, $5, $6)',
      [entry.tenant, entry.actor, entry.action, entry.target, JSON.stringify(entry.changes ?? null), entry.status],
    );
  }

  /** Oldest first from `since`, `limit` per page after the id `after`; `tenant` null: every tenant's (the admin). */
  async list(filter: { tenant: string | null; since?: Date; target?: string }, page: { limit: number; after?: string }): Promise<AuditRecord[]> {
    const rows = await this.db.query<AuditRow>(
      `SELECT * FROM audit_log WHERE ($1::text IS NULL OR tenant = $1) AND ($2::timestamptz IS NULL OR at >= $2)
         AND ($3::text IS NULL OR target = $3) AND ($4::bigint IS NULL OR id > $4) ORDER BY id LIMIT $5`,
      [filter.tenant, filter.since?.toISOString() ?? null, filter.target ?? null, page.after ?? null, page.limit],
    );
    return rows.map(toRecord);
  }

  async prune(retentionMs: number): Promise<number> {
    return (await this.db.query('DELETE FROM audit_log WHERE at < $1 RETURNING 1', [new Date(Date.now() - retentionMs).toISOString()])).length;
  }
}
