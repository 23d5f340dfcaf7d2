import { Mutex, type PGlite, protocol, TransactionAbortedError, types, type messages } from '@electric-sql/pglite';
import type { Db, Queryable } from './db.ts';

/**
 * Herald's statements on embedded PGlite, each one call into its WebAssembly module where
 * `PGlite.query` makes six (parse, describe, bind, describe, execute, sync, each with its own
 * protocol parsing and promises): a statement is prepared once under a name, with its parameter
 * and result types, and then only bound and executed. PostgreSQL parses and analyses it once and
 * keeps its plan as it would for any client's prepared statement. Values are serialised and results
 * parsed by PGlite's own type handlers, as `PGlite.query` does.
 *
 * One statement at a time, as in PGlite: a transaction holds the session from BEGIN to COMMIT, and
 * other statements wait for it. Durability is PGlite's: each statement outside a transaction, and
 * each COMMIT, ends with PGlite's sync to its file system.
 */

/** Statements kept prepared; past it, the least recently used is closed. */
const PREPARED_STATEMENTS = 100;

/** A prepared statement's name and the types PostgreSQL gave its parameters and result columns. */
interface Prepared {
  name: string;
  paramTypes: number[];
  fields: { name: string; dataTypeID: number }[];
}

/** Raised when a prepared statement no longer fits its tables (a column added under `SELECT *`) or is gone: prepare it again. */
const STALE_STATEMENT = new Set(['0A000', '26000']);

type Message = messages.BackendMessage;
const { serialize } = protocol;

export class PgliteSession implements Db {
  private readonly lock = new Mutex();
  /** By SQL text, the least recently used first. */
  private readonly prepared = new Map<string, Prepared>();
  private readonly parser = new protocol.Parser();
  private named = 0;
  private closed = false;

  constructor(private readonly pglite: PGlite) {}

  query<Row>(sql: string, params: unknown[] = []): Promise<Row[]> {
    return this.lock.runExclusive(async () => {
      const rows = await this.run<Row>(sql, params, { retryStale: true });
      await this.pglite.syncToFs();
      return rows;
    });
  }

  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.lock.runExclusive(async () => {
      await this.simple('BEGIN');
      let open = true;
      const tx: Queryable = {
        query: async <Row>(sql: string, params: unknown[] = []) => {
          if (!open) throw new Error('Transaction is closed');
          return this.run<Row>(sql, params, { retryStale: false });
        },
      };
      let result: T;
      try {
        result = await work(tx);
      } catch (err) {
        open = false;
        await this.simple('ROLLBACK');
        throw err;
      }
      open = false;
      // COMMIT of a transaction a failed statement aborted rolls it back (the work caught the error).
      if ((await this.simple('COMMIT')) === 'ROLLBACK') throw new TransactionAbortedError();
      await this.pglite.syncToFs();
      return result;
    });
  }

  maintain(): Promise<void> {
    return this.lock.runExclusive(async () => void await this.simple('VACUUM ANALYZE'));
  }

  close(): Promise<void> {
    return this.lock.runExclusive(async () => {
      this.closed = true;
      await this.pglite.close();
    });
  }

  private async run<Row>(sql: string, params: unknown[], opts: { retryStale: boolean }): Promise<Row[]> {
    let prepared = this.prepared.get(sql);
    if (prepared) {
      this.prepared.delete(sql);
      this.prepared.set(sql, prepared);
    } else {
      prepared = await this.prepare(sql, params);
    }
    const values = params.map((value, i) => {
      if (value === null || value === undefined) return null;
      const serializer = this.pglite.serializers[prepared.paramTypes[i]!];
      return serializer ? serializer(value) : String(value);
    });
    try {
      const received = await this.send([serialize.bind({ statement: prepared.name, values }), serialize.execute({}), serialize.sync()], sql, params);
      return rowsOf<Row>(received, prepared.fields, this.pglite.parsers);
    } catch (err) {
      if (!STALE_STATEMENT.has((err as { code?: string }).code ?? '')) throw err;
      this.forget(sql);
      if (!opts.retryStale) throw err;
      return this.run(sql, params, { retryStale: false });
    }
  }

  /** Prepares `sql` under a new name, closing the least recently used statement when there are too many. */
  private async prepare(sql: string, params: unknown[]): Promise<Prepared> {
    const evicted = this.prepared.size >= PREPARED_STATEMENTS ? this.prepared.keys().next().value : undefined;
    const close = evicted === undefined ? [] : [this.closeMessage(evicted)];
    const name = `herald_${++this.named}`;
    const received = await this.send([...close, serialize.parse({ name, text: sql }), serialize.describe({ type: 'S', name }), serialize.sync()], sql, params);
    const paramTypes = received.find((m): m is messages.ParameterDescriptionMessage => m.name === 'parameterDescription')?.dataTypeIDs ?? [];
    const fields = received.find((m): m is messages.RowDescriptionMessage => m.name === 'rowDescription')?.fields ?? [];
    const prepared = { name, paramTypes, fields: fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })) };
    this.prepared.set(sql, prepared);
    return prepared;
  }

  private closeMessage(sql: string): Uint8Array {
    const { name } = this.prepared.get(sql)!;
    this.prepared.delete(sql);
    return serialize.close({ type: 'S', name });
  }

  private forget(sql: string): void {
    if (this.prepared.has(sql)) void this.send([this.closeMessage(sql), serialize.sync()], sql, []).catch(() => {});
  }

  /** A statement without parameters in the simple protocol (transaction control, VACUUM); answers its command tag. */
  private async simple(sql: string): Promise<string | undefined> {
    const received = await this.send([serialize.query(sql)], sql, []);
    return received.filter((m): m is messages.CommandCompleteMessage => m.name === 'commandComplete').at(-1)?.text;
  }

  /**
   * Sends the messages to the database in one call, ending with a sync, and answers what it sent back; throws its first error.
   * PGlite hands the answer over before the call returns: nothing else runs in between.
   */
  private async send(parts: Uint8Array[], sql: string, params: unknown[]): Promise<Message[]> {
    if (this.closed) throw new Error('PGlite is closed');
    const received: Message[] = [];
    await this.pglite.execProtocolRawStream(concat(parts), {
      syncToFs: false,
      onRawData: (bytes) => this.parser.parse(bytes, (message) => void received.push(message)),
    });
    const error = received.find((m): m is messages.DatabaseError => m.name === 'error');
    if (error) throw Object.assign(error, { query: sql, params });
    return received;
  }
}

function rowsOf<Row>(received: Message[], fields: Prepared['fields'], parsers: PGlite['parsers']): Row[] {
  const rows: Row[] = [];
  for (const message of received) {
    if (message.name !== 'dataRow') continue;
    const values = (message as messages.DataRowMessage).fields;
    const row: Record<string, unknown> = {};
    for (let i = 0; i < fields.length; i++) row[fields[i]!.name] = types.parseType(values[i] ?? null, fields[i]!.dataTypeID, parsers);
    rows.push(row as Row);
  }
  return rows;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
