// Reads and writes the idempotency schema, and holds the per-key lock that tells a request
// which is running from its retries.
import { asDate, inTransaction, queryRows, storeEm, type Orm } from '../db.ts';
import { IdempotencyRecordEntity } from './entities.ts';

/** A key as the caller used it: scoped to the caller and the operation. */
export interface KeyId {
  scope: string;
  operation: string;
  key: string;
}

export interface StoredOutcome {
  status: number;
  headers: Record<string, string>;
  /** JSON text, or null for a response without a body. */
  body: string | null;
}

export interface StoredRecord extends KeyId {
  fingerprint: string;
  outcome: StoredOutcome;
  createdAt: Date;
  expiresAt: Date;
}

export type LockOutcome<T> = { kind: 'locked'; value: T } | { kind: 'busy' };

// Distinct from any other advisory lock the application might take.
function lockName(id: KeyId): string {
  return `agora.idempotency:${JSON.stringify([id.scope, id.operation, id.key])}`;
}

export class IdempotencyStore {
  readonly #orm: Orm;

  constructor(orm: Orm) {
    this.#orm = orm;
  }

  /** The record of `id` that has not expired at `now`. Joins the current transaction, if any. */
  async find(id: KeyId, now: Date): Promise<StoredRecord | null> {
    const [row] = await queryRows(
      this.#orm,
      `select scope, operation, key, fingerprint, response_status, response_headers, response_body, created_at, expires_at
         from idempotency.record where scope = ? and operation = ? and key = ? and expires_at > ?`,
      [id.scope, id.operation, id.key, now.toISOString()],
    );
    if (!row) return null;
    return {
      scope: row.scope as string,
      operation: row.operation as string,
      key: row.key as string,
      fingerprint: row.fingerprint as string,
      outcome: {
        status: Number(row.response_status),
        headers: (typeof row.response_headers === 'string' ? JSON.parse(row.response_headers) : row.response_headers) as Record<string, string>,
        body: (row.response_body as string | null) ?? null,
      },
      createdAt: asDate(row.created_at),
      expiresAt: asDate(row.expires_at),
    };
  }

  /**
   * Runs `work` in one transaction holding `id`'s lock, or answers `busy` at once when another
   * transaction (in any process on this database) holds it. The lock is a transaction-level
   * advisory lock: PostgreSQL releases it when the transaction ends, however it ends,
   * including when the process running it dies and its connection drops. `work` and every
   * store call inside it write in this transaction, so its data and its record commit together.
   *
   * `leaseSeconds` bounds how long the transaction may sit idle or run one statement: should the
   * process die without its connection closing (a host lost to the network), PostgreSQL ends
   * the transaction, and frees the key, within that time.
   */
  async withKeyLock<T>(id: KeyId, leaseSeconds: number, work: () => Promise<T>): Promise<LockOutcome<T>> {
    return inTransaction(this.#orm, async (em) => {
      const lease = `${leaseSeconds * 1000}ms`;
      const [lock] = await em.execute<{ locked: boolean }[]>(
        `select set_config('idle_in_transaction_session_timeout', ?, true), set_config('statement_timeout', ?, true),
                pg_try_advisory_xact_lock(hashtextextended(?, 0)) as locked`,
        [lease, lease, lockName(id)],
      );
      if (!lock?.locked) return { kind: 'busy' } as const;
      return { kind: 'locked', value: await work() } as const;
    });
  }

  /**
   * Stores a finished request, replacing an expired record of the same key, in one statement.
   * Runs in the caller's transaction. A live record of the key is never replaced: the
   * statement then stores nothing and this throws, whatever the locks did.
   */
  async save(record: StoredRecord): Promise<void> {
    const rows = await queryRows(
      this.#orm,
      `insert into idempotency.record
              (scope, operation, key, fingerprint, response_status, response_headers, response_body, created_at, expires_at)
       values (?, ?, ?, ?, ?, ?::jsonb, ?, ?::timestamptz, ?::timestamptz)
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
        record.outcome.status,
        JSON.stringify(record.outcome.headers),
        record.outcome.body,
        record.createdAt.toISOString(),
        record.expiresAt.toISOString(),
      ],
    );
    if (rows.length === 0) throw new Error(`idempotency key ${JSON.stringify([record.scope, record.operation, record.key])} already has a live record`);
  }

  /** Deletes records that expired before `now`; returns how many. */
  async deleteExpired(now: Date): Promise<number> {
    return storeEm(this.#orm).nativeDelete(IdempotencyRecordEntity, { expiresAt: { $lte: now } });
  }
}
