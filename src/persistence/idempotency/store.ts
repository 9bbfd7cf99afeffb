// Reads and writes the idempotency schema, and holds the per-key lock that tells a request
// which is running from its retries. The record is written through the unit of work of the
// request itself, which the caller holds and passes down: its data and its key commit together.
import { asDate, type Database, type UnitOfWork } from '../sql.ts';

/** A key as the caller used it: scoped to the caller and the operation. */
export interface KeyId {
  scope: string;
  operation: string;
  key: string;
}

/**
 * What a keyed request answered, kept to be sent again to its retries: the one type of a
 * recorded response, from this table up to the HTTP layer.
 */
export interface RecordedResponse {
  status: number;
  headers: Record<string, string>;
  /** The body's JSON text exactly as it was sent (a replay sends these bytes), or null for none. */
  body: string | null;
}

export interface StoredRecord extends KeyId {
  fingerprint: string;
  response: RecordedResponse;
  createdAt: Date;
  expiresAt: Date;
}

export type LockOutcome<T> = { kind: 'locked'; value: T } | { kind: 'busy' };

// Distinct from any other advisory lock the application might take.
function lockName(id: KeyId): string {
  return `agora.idempotency:${JSON.stringify([id.scope, id.operation, id.key])}`;
}

export class IdempotencyStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** The record of `id` that has not expired at `now`, read through `uow` when given. */
  async find(id: KeyId, now: Date, uow?: UnitOfWork): Promise<StoredRecord | null> {
    const [row] = await (uow ?? this.#db).query(
      `select scope, operation, key, fingerprint, response_status, response_headers, response_body, created_at, expires_at
         from idempotency.record where scope = $1 and operation = $2 and key = $3 and expires_at > $4::timestamptz`,
      [id.scope, id.operation, id.key, now.toISOString()],
    );
    if (!row) return null;
    return {
      scope: row.scope as string,
      operation: row.operation as string,
      key: row.key as string,
      fingerprint: row.fingerprint as string,
      response: {
        status: Number(row.response_status),
        headers: (typeof row.response_headers === 'string' ? JSON.parse(row.response_headers) : row.response_headers) as Record<string, string>,
        body: (row.response_body as string | null) ?? null,
      },
      createdAt: asDate(row.created_at),
      expiresAt: asDate(row.expires_at),
    };
  }

  /**
   * Opens a unit of work holding `id`'s lock and runs `work` in it, or answers `busy` at once
   * when another transaction (in any process on this database) holds the lock. The lock is a
   * transaction-level advisory lock: PostgreSQL releases it when the transaction ends, however
   * it ends, including when the process running it dies and its connection drops. Whatever
   * `work` writes through the unit of work it receives commits, or rolls back, with it.
   *
   * `leaseSeconds` bounds how long the transaction may sit idle or run one statement: should the
   * process die without its connection closing (a host lost to the network), PostgreSQL ends
   * the transaction, and frees the key, within that time.
   */
  async withKeyLock<T>(id: KeyId, leaseSeconds: number, work: (uow: UnitOfWork) => Promise<T>): Promise<LockOutcome<T>> {
    return this.#db.transaction(async (uow) => {
      const lease = `${leaseSeconds * 1000}ms`;
      const [lock] = await uow.query<{ locked: boolean }>(
        `select set_config('idle_in_transaction_session_timeout', $1, true), set_config('statement_timeout', $2, true),
                pg_try_advisory_xact_lock(hashtextextended($3, 0)) as locked`,
        [lease, lease, lockName(id)],
      );
      if (!lock?.locked) return { kind: 'busy' } as const;
      return { kind: 'locked', value: await work(uow) } as const;
    });
  }

  /**
   * Stores a finished request through `uow`, the unit of work its data was written in, replacing
   * an expired record of the same key, in one statement. A live record of the key is never
   * replaced: the statement then stores nothing and this throws, whatever the locks did.
   */
  async save(record: StoredRecord, uow: UnitOfWork): Promise<void> {
    const rows = await uow.query(
      `insert into idempotency.record
              (scope, operation, key, fingerprint, response_status, response_headers, response_body, created_at, expires_at)
       values ($1, $2, $3, $4, $5, $6::jsonb, $7, $8::timestamptz, $9::timestamptz)
       on conflict (scope, operation, key) do update
          set fingerprint = excluded.fingerprint, response_status = excluded.response_status,
              response_headers = excluded.response_headers, response_body = excluded.response_body,
              created_at = excluded.created_at, expires_at = excluded.expires_at
        where record.expires_at <= excluded.created_at
       returning 1 as stored`,
      [
        record.scope,
        record.operation,
        record.key,
        record.fingerprint,
        record.response.status,
        JSON.stringify(record.response.headers),
        record.response.body,
        record.createdAt.toISOString(),
        record.expiresAt.toISOString(),
      ],
    );
    if (rows.length === 0) throw new Error(`idempotency key ${JSON.stringify([record.scope, record.operation, record.key])} already has a live record`);
  }

  /** Deletes records that expired before `now`; returns how many. */
  async deleteExpired(now: Date): Promise<number> {
    return (await this.#db.query('delete from idempotency.record where expires_at <= $1::timestamptz returning 1 as deleted', [now.toISOString()])).length;
  }
}
