// Reads and writes the idempotency schema, and holds the per-key lock that tells a request
// which is running from its retries.
import { inTransaction, selectRows, storeEm, type Orm } from '../db.ts';
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
    const [row] = await selectRows(
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
      createdAt: new Date(row.created_at as Date | string),
      expiresAt: new Date(row.expires_at as Date | string),
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

  /** Stores a finished request, replacing an expired record of the same key. Runs in the caller's transaction. */
  async save(record: StoredRecord): Promise<void> {
    const em = storeEm(this.#orm);
    const { scope, operation, key } = record;
    await em.nativeDelete(IdempotencyRecordEntity, { scope, operation, key, expiresAt: { $lte: record.createdAt } });
    // The primary key refuses a second record for a key, whatever the locks did.
    await em.insert(IdempotencyRecordEntity, {
      scope,
      operation,
      key,
      fingerprint: record.fingerprint,
      responseStatus: record.outcome.status,
      responseHeaders: record.outcome.headers,
      responseBody: record.outcome.body,
      createdAt: record.createdAt,
      expiresAt: record.expiresAt,
    });
  }

  /** Deletes records that expired before `now`; returns how many. */
  async deleteExpired(now: Date): Promise<number> {
    return storeEm(this.#orm).nativeDelete(IdempotencyRecordEntity, { expiresAt: { $lte: now } });
  }
}
