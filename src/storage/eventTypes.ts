import type { Db } from './db.ts';

/** A declared event type: its name within a tenant and, optionally, the JSON Schema its `data` must meet. */
export interface EventType {
  tenant: string;
  name: string;
  description: string;
  schema: Record<string, unknown> | null;
  createdAt: string;
  updatedAt: string;
}

export type EventTypeInput = Pick<EventType, 'tenant' | 'name' | 'description' | 'schema'>;

interface Row {
  tenant: string; name: string; description: string; schema: Record<string, unknown> | null;
  created_at: Date | string; updated_at: Date | string;
}

const toEventType = (row: Row): EventType => ({
  tenant: row.tenant, name: row.name, description: row.description, schema: row.schema,
  createdAt: new Date(row.created_at).toISOString(), updatedAt: new Date(row.updated_at).toISOString(),
});

export class EventTypeStore {
  constructor(private readonly db: Db) {}

  /** Every name any tenant declares, for bounding metric labels. */
  async declaredNames(): Promise<string[]> {
    return (await this.db.query<{ name: string }>('SELECT DISTINCT name FROM event_types')).map((row) => row.name);
  }

  /** Undefined when the tenant already declares that name. */
  async create(input: EventTypeInput): Promise<EventType | undefined> {
    const [row] = await this.db.query<Row>(
      `INSERT INTO event_types (tenant, name, description, schema) VALUES ($1, $2, $3, $4)
       ON CONFLICT (tenant, name) DO NOTHING RETURNING *`,
      [input.tenant, input.name, input.description, JSON.stringify(input.schema)],
    );
    return row && toEventType(row);
  }

  /** Declares or redeclares; `created` tells which. */
  async put(input: EventTypeInput): Promise<{ eventType: EventType; created: boolean }> {
    const [row] = await this.db.query<Row & { created: boolean }>(
      `INSERT INTO event_types (tenant, name, description, schema) VALUES ($1, $2, $3, $4)
       ON CONFLICT (tenant, name) DO UPDATE SET description = EXCLUDED.description, schema = EXCLUDED.schema, updated_at = now()
       RETURNING *, (xmax = 0) AS created`,
      [input.tenant, input.name, input.description, JSON.stringify(input.schema)],
    );
    return { eventType: toEventType(row!), created: row!.created };
  }

  async get(tenant: string, name: string): Promise<EventType | undefined> {
    const [row] = await this.db.query<Row>('SELECT * FROM event_types WHERE tenant = $1 AND name = $2', [tenant, name]);
    return row && toEventType(row);
  }

  /** A tenant's event types by name, `limit` per page after the name `after`. */
  async list(tenant: string, page: { limit: number; after?: string }): Promise<EventType[]> {
    const rows = await this.db.query<Row>(
      'SELECT * FROM event_types WHERE tenant = $1 AND ($2::text IS NULL OR name > $2) ORDER BY name LIMIT $3',
      [tenant, page.after ?? null, page.limit],
    );
    return rows.map(toEventType);
  }

  async delete(tenant: string, name: string): Promise<boolean> {
    const rows = await this.db.query('DELETE FROM event_types WHERE tenant = $1 AND name = $2 RETURNING name', [tenant, name]);
    return rows.length > 0;
  }
}
