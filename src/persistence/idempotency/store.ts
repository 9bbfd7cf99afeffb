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
 * What a claim found: the key's lock held (the work ran, and its value), another transaction
 * holding it, or the key's live record (read with the ROLLBACK).
 */
export type ClaimOutcome<T> = { kind: 'locked'; value: T } | { kind: 'busy' } | { kind: 'finished'; record: StoredRecord };

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
 * The claim, the statement of a keyed request's transaction that runs first (the function
 * idempotency.claim, Migration20261202120000 and Migration20261205150000), sent with its BEGIN in
 * front of the request's first write: it sets the lease (`idle_in_transaction_session_timeout`
 * and `statement_timeout` of this transaction); fails with a unique violation of `record_pkey`
 * when the key has a live record (see `isKeyTaken`), without taking the lock; takes the key's
 * lock, a transaction-level advisory lock taken without waiting, failing with
 * lock_not_available when another transaction holds it; and, holding it, deletes the key's
 * expired record, if any, and fails as before when a live one is left (committed meanwhile).
 * Either failure stops the write sent after it. The record written at the end is a plain
 * INSERT, which a live record of the key makes fail all the same (see `save`).
 *
 * $1 lease, $2 lock name, $3..$5 scope, operation, key, $6 now.
 */
const CLAIM = 'select idempotency.claim($1, $2, $3, $4, $5, $6::timestamptz)';

/** $1..$3 scope, operation, key, $4 now, $5 lock name: see `IdempotencyStore.lookup`. */
const LOOKUP = `select r.*, r.fingerprint is null and not pg_try_advisory_xact_lock(hashtextextended($5, 0)) as busy
                 from (select 1) one
                 left join (select ${RECORD_COLUMNS} from idempotency.record where scope = $1 and operation = $2 and key = $3 and expires_at > $4::timestamptz) r on true`;

/** The lookup (`IdempotencyStore.lookup`) as a statement. */
function lookupStatement(id: KeyId, now: Date): { sql: string; params: unknown[] } {
  return { sql: LOOKUP, params: [id.scope, id.operation, id.key, now.toISOString(), lockName(id)] };
}

function lookedUp(id: KeyId, row: Row | undefined): { record: StoredRecord | null; busy: boolean } {
  return { record: row && row.fingerprint !== null ? fromRow(id, row) : null, busy: row?.busy === true };
}

export class IdempotencyStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /**
   * The first statement of a keyed request, in no transaction: the record of `id` that has not
   * expired at `now`, and, when there is none, whether another request holds the key now
   * (`busy`): its lock is tried and, the statement being a transaction of its own, released as
   * the statement ends. A busy key is refused before the request does any work of its own (a
   * sign-up's password hashing, say); one taken just after this is still refused by the claim.
   */
  async lookup(id: KeyId, now: Date): Promise<{ record: StoredRecord | null; busy: boolean }> {
    const { sql, params } = lookupStatement(id, now);
    return lookedUp(id, (await this.#db.query(sql, params))[0]);
  }

  /**
   * Runs `work` in a unit of work that holds `id`'s lock (see CLAIM): the claim is sent with the
   * BEGIN, in front of the first statement `work` sends (or with the COMMIT, if it sends none),
   * so that it costs no round trip of its own. Whatever `work` writes through the unit of work it
   * receives commits, or rolls back, with it. Answers `busy` when another transaction (in any
   * process on this database) holds the lock: the transaction then rolls back, whatever `work`
   * did; and `finished`, with the record, when the key has a live record (read with the
   * ROLLBACK; should that read not be made, the error `isKeyTaken` knows is thrown). PostgreSQL
   * releases the lock when the transaction ends, however it ends, including when the process
   * running it dies and its connection drops. (`work` may run up to its first statement before
   * the claim is known: it writes nothing there, and reads only.)
   *
   * `leaseSeconds` bounds how long the transaction may sit idle or run one statement: should the
   * process die without its connection closing (a host lost to the network), PostgreSQL ends
   * the transaction, and frees the key, within that time.
   */
  async claim<T>(id: KeyId, leaseSeconds: number, now: Date, work: (uow: UnitOfWork) => Promise<T>): Promise<ClaimOutcome<T>> {
    const ahead = { sql: CLAIM, params: [`${leaseSeconds * 1000}ms`, lockName(id), id.scope, id.operation, id.key, now.toISOString()] };
    // Refused for a live record, the record is read with the ROLLBACK, in the same round trip.
    let found: StoredRecord | null = null;
    const recovery = { when: (error: unknown) => this.isKeyTaken(error), statement: lookupStatement(id, now), take: (rows: Row[]) => void (found = lookedUp(id, rows[0]).record) };
    try {
      return { kind: 'locked', value: await this.#db.transaction((uow) => work(uow), { ahead, recovery }) };
    } catch (error) {
      if ((error as { code?: unknown; constraint?: unknown } | null)?.code === '55P03' && (error as { constraint?: unknown }).constraint === 'idempotency_key_in_flight') {
        return { kind: 'busy' };
      }
      if (found !== null && this.isKeyTaken(error)) return { kind: 'finished', record: found };
      throw error;
    }
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

  /** Whether `error` is the refusal of a claim or of `save`'s record: the key has a live record. */
  isKeyTaken(error: unknown): boolean {
    return violatedConstraint(error, 'unique') === 'record_pkey';
  }

  /** Deletes records that expired before `now`; returns how many. */
  async deleteExpired(now: Date): Promise<number> {
    return (await this.#db.query('delete from idempotency.record where expires_at <= $1::timestamptz returning 1 as deleted', [now.toISOString()])).length;
  }
}
