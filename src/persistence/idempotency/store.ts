// Reads and writes the idempotency schema, and holds the per-key lock that tells a request
// which is running from its retries. The record is written through the unit of work of the
// request itself, which the caller holds and passes down: its data and its key commit together.
import { asDate, closeWith, violatedConstraint, type Database, type Row, type UnitOfWork } from '../sql.ts';

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

/**
 * What a claim found: the key's live record (whoever holds its lock), or the lock held (the
 * work ran, and its value), or neither (another transaction holds the lock: the first request
 * with the key is still running).
 */
export type ClaimOutcome<T> = { kind: 'recorded'; record: StoredRecord } | { kind: 'locked'; value: T } | { kind: 'busy' };

// Distinct from any other advisory lock the application might take.
function lockName(id: KeyId): string {
  return `agora.idempotency:${JSON.stringify([id.scope, id.operation, id.key])}`;
}

const RECORD_COLUMNS = 'fingerprint, response_status, response_headers, response_body, created_at, expires_at';

function fromRow(id: KeyId, row: Row): StoredRecord {
  return {
    scope: id.scope,
    operation: id.operation,
    key: id.key,
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
 * The claim, the first statement of a keyed request's transaction (sent with its BEGIN):
 *
 * - the key's live record, if any: a retry is answered from it, and takes no lock (concurrent
 *   retries of a finished request never refuse each other);
 * - otherwise the key's lock, a transaction-level advisory lock taken without waiting, with the
 *   lease (`idle_in_transaction_session_timeout` and `statement_timeout` of this transaction);
 * - holding it, the key's expired record, if any, deleted: the record written at the end is a
 *   plain INSERT, which a live record of the key makes fail (see `save`).
 *
 * $1 lease, $2 lock name, $3..$5 scope, operation, key, $6 now.
 */
const CLAIM = `with live as (
       select ${RECORD_COLUMNS} from idempotency.record
        where scope = $3 and operation = $4 and key = $5 and expires_at > $6::timestamptz),
     claim as (
       select case when exists (select 1 from live) then null
                   else set_config('idle_in_transaction_session_timeout', $1, true) is not null
                    and set_config('statement_timeout', $1, true) is not null
                    and pg_try_advisory_xact_lock(hashtextextended($2, 0)) end as locked),
     expired as (
       delete from idempotency.record r using claim
        where claim.locked and r.scope = $3 and r.operation = $4 and r.key = $5 and r.expires_at <= $6::timestamptz
       returning 1)
select claim.locked, live.* from claim left join live on true`;

export class IdempotencyStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** The record of `id` that has not expired at `now`. */
  async find(id: KeyId, now: Date): Promise<StoredRecord | null> {
    const [row] = await this.#db.query(
      `select ${RECORD_COLUMNS} from idempotency.record where scope = $1 and operation = $2 and key = $3 and expires_at > $4::timestamptz`,
      [id.scope, id.operation, id.key, now.toISOString()],
    );
    return row ? fromRow(id, row) : null;
  }

  /**
   * Opens a unit of work with the claim of `id` (see CLAIM), in the round trip of its BEGIN, and
   * runs `work` in it when the claim got the key's lock: whatever `work` writes through the unit
   * of work it receives commits, or rolls back, with it. Answers `recorded` with the key's live
   * record, and `busy` at once when another transaction (in any process on this database) holds
   * the lock. PostgreSQL releases the lock when the transaction ends, however it ends, including
   * when the process running it dies and its connection drops.
   *
   * `leaseSeconds` bounds how long the transaction may sit idle or run one statement: should the
   * process die without its connection closing (a host lost to the network), PostgreSQL ends
   * the transaction, and frees the key, within that time.
   */
  async claim<T>(id: KeyId, leaseSeconds: number, now: Date, work: (uow: UnitOfWork) => Promise<T>): Promise<ClaimOutcome<T>> {
    const opening = { sql: CLAIM, params: [`${leaseSeconds * 1000}ms`, lockName(id), id.scope, id.operation, id.key, now.toISOString()] };
    return this.#db.transaction(async (uow, [claimed]): Promise<ClaimOutcome<T>> => {
      if (claimed?.fingerprint != null) return { kind: 'recorded', record: fromRow(id, claimed) };
      if (claimed?.locked !== true) return { kind: 'busy' };
      return { kind: 'locked', value: await work(uow) };
    }, { opening });
  }

  /**
   * Stores a finished request as the last statement of `uow`, the unit of work its data was
   * written in: sent with its COMMIT. A plain INSERT: should the key have a record (one a
   * request committed between the claim's snapshot and its lock), it fails with a unique
   * violation of `record_pkey` (see `isKeyTaken`) and nothing commits.
   */
  save(record: StoredRecord, uow: UnitOfWork): void {
    closeWith(uow, {
      sql: `insert into idempotency.record
                   (scope, operation, key, fingerprint, response_status, response_headers, response_body, created_at, expires_at)
            values ($1, $2, $3, $4, $5, $6::jsonb, $7, $8::timestamptz, $9::timestamptz)`,
      params: [
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
    });
  }

  /** Whether `error` is the refusal of `save`'s record: its key already had one. */
  isKeyTaken(error: unknown): boolean {
    return violatedConstraint(error, 'unique') === 'record_pkey';
  }

  /** Deletes records that expired before `now`; returns how many. */
  async deleteExpired(now: Date): Promise<number> {
    return (await this.#db.query('delete from idempotency.record where expires_at <= $1::timestamptz returning 1 as deleted', [now.toISOString()])).length;
  }
}
