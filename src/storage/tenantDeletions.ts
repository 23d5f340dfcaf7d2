import type { Db } from './db.ts';

/** What a tenant's deletion removed so far, and whether it is done (GET /v1/tenants/:id/deletion). */
export interface TenantDeletion {
  tenant: string;
  status: 'running' | 'done';
  startedAt: string;
  finishedAt?: string;
  removed: { endpoints: number; keys: number; portalSessions: number; deliveries: number; workflowExecutions: number };
}

interface DeletionRow {
  tenant: string; started_at: Date | string; finished_at: Date | string | null;
  endpoints: number; keys: number; portal_sessions: number; deliveries: number; workflow_executions: number;
}

const toDeletion = (row: DeletionRow): TenantDeletion => ({
  tenant: row.tenant,
  status: row.finished_at ? 'done' : 'running',
  startedAt: new Date(row.started_at).toISOString(),
  ...(row.finished_at && { finishedAt: new Date(row.finished_at).toISOString() }),
  removed: {
    endpoints: row.endpoints, keys: row.keys, portalSessions: row.portal_sessions, deliveries: row.deliveries, workflowExecutions: row.workflow_executions,
  },
});

/**
 * Tenant deletions: the row is written when the deletion is asked for and stays once it is done, as the
 * tenant's tombstone (its id is refused for ingest and not reused). Each step adds what it removed, in the
 * same transaction as the removal, so a step run again after a crash counts nothing twice.
 */
export class TenantDeletions {
  constructor(private readonly db: Db) {}

  /** The deletion, begun now or earlier (asking twice begins nothing new). */
  async begin(tenant: string): Promise<TenantDeletion> {
    await this.db.query('INSERT INTO tenant_deletions (tenant) VALUES ($1) ON CONFLICT (tenant) DO NOTHING', [tenant]);
    return (await this.get(tenant))!;
  }

  async get(tenant: string): Promise<TenantDeletion | undefined> {
    const [row] = await this.db.query<DeletionRow>('SELECT * FROM tenant_deletions WHERE tenant = $1', [tenant]);
    return row && toDeletion(row);
  }

  /** Every tenant deleted or being deleted. */
  async deletedTenants(): Promise<Set<string>> {
    return new Set((await this.db.query<{ tenant: string }>('SELECT tenant FROM tenant_deletions')).map((row) => row.tenant));
  }

  /**
   * Removes everything Herald's database keeps for the tenant but its audit log: endpoints (their secrets, auth,
   * traffic state and circuits), API keys, portal sessions, event types, the attempt log and tombstones of erased
   * events, then the tenant itself. Runs again harmlessly.
   */
  async removeRecords(tenant: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const count = async (sql: string) => (await tx.query(sql, [tenant])).length;
      await tx.query('DELETE FROM endpoint_traffic WHERE endpoint_id IN (SELECT id FROM endpoints WHERE tenant = $1)', [tenant]);
      await tx.query('DELETE FROM endpoint_circuits WHERE tenant = $1 OR endpoint_id IN (SELECT id FROM endpoints WHERE tenant = $1)', [tenant]);
      const endpoints = await count('DELETE FROM endpoints WHERE tenant = $1 RETURNING 1');
      const keys = await count('DELETE FROM api_keys WHERE tenant = $1 RETURNING 1');
      const portalSessions = await count('DELETE FROM portal_sessions WHERE tenant = $1 RETURNING 1');
      await tx.query('DELETE FROM portal_frame_ancestors WHERE tenant = $1', [tenant]);
      await tx.query('DELETE FROM event_types WHERE tenant = $1', [tenant]);
      await tx.query('DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE tenant = $1)', [tenant]);
      const deliveries = await count('DELETE FROM deliveries WHERE tenant = $1 RETURNING 1');
      await tx.query('DELETE FROM erased_events WHERE tenant = $1', [tenant]);
      await tx.query('DELETE FROM tenants WHERE id = $1', [tenant]);
      await tx.query(
        `UPDATE tenant_deletions SET endpoints = endpoints + $2, keys = keys + $3, portal_sessions = portal_sessions + $4, deliveries = deliveries + $5
         WHERE tenant = $1`,
        [tenant, endpoints, keys, portalSessions, deliveries],
      );
    });
  }

  /** Counts workflow executions deleted from Temporal. */
  async countWorkflowExecutions(tenant: string, deleted: number): Promise<void> {
    await this.db.query('UPDATE tenant_deletions SET workflow_executions = workflow_executions + $2 WHERE tenant = $1', [tenant, deleted]);
  }

  async finish(tenant: string): Promise<void> {
    await this.db.query('UPDATE tenant_deletions SET finished_at = coalesce(finished_at, now()) WHERE tenant = $1', [tenant]);
  }
}
