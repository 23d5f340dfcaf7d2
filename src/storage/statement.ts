/**
 * One SQL statement put together from parts written by different stores (each a common table
 * expression), so that what one delivery attempt changes in several tables goes in one round
 * trip: each statement costs embedded PGlite about as much as the rows it writes.
 * Parts must touch different rows (a statement's parts all see the database as it was before it).
 */
export class Statement {
  readonly params: unknown[] = [];
  private readonly parts: string[] = [];

  /** The placeholder for `value`; use it as often as needed in the part's SQL. */
  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  /** Adds a part: `name AS (sql)`. */
  with(name: string, sql: string): this {
    this.parts.push(`${name} AS (${sql})`);
    return this;
  }

  /** The statement, its parts followed by `final` (what it answers). */
  sql(final = 'SELECT 1'): string {
    return this.parts.length ? `WITH ${this.parts.join(',\n')}\n${final}` : final;
  }
}

/** A store's part of a statement that another store sends. */
export type StatementPart = (statement: Statement) => void;
