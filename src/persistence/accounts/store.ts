// Reads and writes the accounts schema. Every write that must not lose an update is a
// conditional statement evaluated by PostgreSQL (see conditional-write.ts). A write that may be
// part of a larger unit of work (a keyed request's) takes it as its last argument.
import { silentLog, type Log } from '../../log.ts';
import { conditionalWrite, type WriteOutcome } from '../conditional-write.ts';
import { asDate, violatedConstraint, withSavepoint, type Database, type Row, type UnitOfWork } from '../sql.ts';

export type { WriteOutcome } from '../conditional-write.ts';

export interface AccountRow {
  id: string;
  email: string;
  handle: string;
  displayName: string;
  bio: string | null;
  createdAt: Date;
  updatedAt: Date;
  version: number;
}

export interface NewAccountRow extends Omit<AccountRow, 'version'> {
  handleKey: string;
  passwordHash: string;
}

/** What other domains show of an account next to their own data. */
export interface AccountSummaryRow {
  id: string;
  handle: string;
  displayName: string;
}

export interface ProfileChanges {
  displayName?: string;
  bio?: string | null;
}

export interface SessionRow {
  id: string;
  accountId: string;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
}

export interface ListAccountsQuery {
  limit: number;
  newestFirst: boolean;
  /** Keyset: only rows after this id in the chosen order. */
  afterId?: string;
  offset?: number;
  handleKeyPrefix?: string;
}

const ACCOUNT_COLUMNS = 'id, email, handle, display_name, bio, created_at, updated_at, version';

function toAccountRow(r: Row): AccountRow {
  return {
    id: r.id as string,
    email: r.email as string,
    handle: r.handle as string,
    displayName: r.display_name as string,
    bio: (r.bio as string | null) ?? null,
    createdAt: asDate(r.created_at),
    updatedAt: asDate(r.updated_at),
    version: Number(r.version),
  };
}

function toSessionRow(r: Row): SessionRow {
  return {
    id: r.id as string,
    accountId: r.account_id as string,
    createdAt: asDate(r.created_at),
    lastUsedAt: asDate(r.last_used_at),
    expiresAt: asDate(r.expires_at),
  };
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export class AccountsStore {
  readonly #db: Database;
  readonly #log: Log;

  constructor(db: Database, log: Log = silentLog) {
    this.#db = db;
    this.#log = log;
  }

  /** Inserts an account, or reports which unique field is already taken. */
  async insertAccount(
    row: NewAccountRow,
    uow?: UnitOfWork,
  ): Promise<{ kind: 'done'; row: AccountRow } | { kind: 'taken'; field: 'email' | 'handle' }> {
    const db = uow ?? this.#db;
    try {
      // In a savepoint inside a unit of work: a failed statement would otherwise abort the whole
      // transaction, and the caller still writes (its idempotency record) and commits.
      await withSavepoint(db, () =>
        db.query(
          `insert into accounts.account (id, email, handle, handle_key, display_name, bio, password_hash, created_at, updated_at, version)
           values ($1, $2, $3, $4, $5, $6, $7, $8::timestamptz, $9::timestamptz, 0)`,
          [row.id, row.email, row.handle, row.handleKey, row.displayName, row.bio, row.passwordHash, row.createdAt.toISOString(), row.updatedAt.toISOString()],
        ),
      );
    } catch (error) {
      const constraint = violatedConstraint(error, 'unique');
      if (constraint !== undefined) {
        const field = constraint === 'account_email_key' ? 'email' : 'handle';
        // Expected (someone else has it); the error's detail is not logged, it holds the value.
        this.#log.debug({ field }, 'account not inserted: unique value taken');
        return { kind: 'taken', field };
      }
      throw error;
    }
    const { handleKey: _k, passwordHash: _p, ...account } = row;
    return { kind: 'done', row: { ...account, version: 0 } };
  }

  async findAccount(id: string): Promise<AccountRow | null> {
    const [found] = await this.#db.query(`select ${ACCOUNT_COLUMNS} from accounts.account where id = $1`, [id]);
    return found ? toAccountRow(found) : null;
  }

  /** The summaries of those of `ids` that exist, in one query. */
  async findSummaries(ids: readonly string[]): Promise<AccountSummaryRow[]> {
    if (ids.length === 0) return [];
    const rows = await this.#db.query('select id, handle, display_name from accounts.account where id = any($1::uuid[])', [ids]);
    return rows.map((r) => ({ id: r.id as string, handle: r.handle as string, displayName: r.display_name as string }));
  }

  /** The ids of the accounts with these handle keys (lower-case handles), in one query. */
  async findIdsByHandleKeys(keys: readonly string[]): Promise<{ id: string; handleKey: string }[]> {
    if (keys.length === 0) return [];
    const rows = await this.#db.query('select id, handle_key from accounts.account where handle_key = any($1::text[])', [keys]);
    return rows.map((r) => ({ id: r.id as string, handleKey: r.handle_key as string }));
  }

  /** The account and its password hash, for signing in. */
  async findCredentials(email: string): Promise<{ accountId: string; passwordHash: string } | null> {
    const [found] = await this.#db.query('select id, password_hash from accounts.account where email = $1', [email]);
    return found ? { accountId: found.id as string, passwordHash: found.password_hash as string } : null;
  }

  async listAccounts(query: ListAccountsQuery): Promise<AccountRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.handleKeyPrefix) {
      params.push(`${escapeLike(query.handleKeyPrefix)}%`);
      where.push(`handle_key like $${params.length}`);
    }
    if (query.afterId) {
      params.push(query.afterId);
      where.push(`id ${query.newestFirst ? '<' : '>'} $${params.length}`);
    }
    params.push(query.limit, query.offset ?? 0);
    const rows = await this.#db.query(
      `select ${ACCOUNT_COLUMNS} from accounts.account ${where.length > 0 ? `where ${where.join(' and ')}` : ''}
        order by id ${query.newestFirst ? 'desc' : 'asc'} limit $${params.length - 1} offset $${params.length}`,
      params,
    );
    return rows.map(toAccountRow);
  }

  /**
   * Applies `changes` if the row still has `expectedVersion` (any version when undefined), and
   * returns the row exactly as this statement left it: a read after the write could already
   * see a later writer's version.
   */
  async updateProfile(
    id: string,
    expectedVersion: number | undefined,
    changes: ProfileChanges,
    now: Date,
  ): Promise<WriteOutcome<AccountRow>> {
    const params: unknown[] = [now.toISOString()];
    const set = ['updated_at = $1::timestamptz', 'version = version + 1'];
    if (changes.displayName !== undefined) {
      params.push(changes.displayName);
      set.push(`display_name = $${params.length}`);
    }
    if (changes.bio !== undefined) {
      params.push(changes.bio);
      set.push(`bio = $${params.length}`);
    }
    return conditionalWrite(
      this.#db,
      { table: 'accounts.account', id, expectedVersion, statement: `update accounts.account set ${set.join(', ')}`, params, returning: ACCOUNT_COLUMNS },
      toAccountRow,
    );
  }

  /**
   * Deletes the account (and, by cascade, its sessions) if it still has `expectedVersion`, on
   * `uow` when given (with the jobs of the clean-ups it causes).
   */
  async deleteAccount(id: string, expectedVersion: number | undefined, uow?: UnitOfWork): Promise<WriteOutcome<null>> {
    return conditionalWrite(uow ?? this.#db, { table: 'accounts.account', id, expectedVersion, statement: 'delete from accounts.account' });
  }

  /** Runs `work` in a transaction: for a write and the events it publishes (a job each), which must commit together. */
  unitOfWork<T>(work: (uow: UnitOfWork) => Promise<T>): Promise<T> {
    return this.#db.transaction(work);
  }

  async insertSession(row: SessionRow & { tokenHash: string }, uow?: UnitOfWork): Promise<void> {
    await (uow ?? this.#db).query(
      `insert into accounts.session (id, account_id, token_hash, created_at, last_used_at, expires_at)
       values ($1, $2, $3, $4::timestamptz, $5::timestamptz, $6::timestamptz)`,
      [row.id, row.accountId, row.tokenHash, row.createdAt.toISOString(), row.lastUsedAt.toISOString(), row.expiresAt.toISOString()],
    );
  }

  async findSessionByTokenHash(tokenHash: string): Promise<SessionRow | null> {
    const [found] = await this.#db.query(
      'select id, account_id, created_at, last_used_at, expires_at from accounts.session where token_hash = $1',
      [tokenHash],
    );
    return found ? toSessionRow(found) : null;
  }

  /** Records use of a session, at most once per `granularityMs` to spare writes. */
  async touchSession(id: string, now: Date, granularityMs: number): Promise<void> {
    await this.#db.query('update accounts.session set last_used_at = $2::timestamptz where id = $1 and last_used_at < $3::timestamptz', [
      id,
      now.toISOString(),
      new Date(now.getTime() - granularityMs).toISOString(),
    ]);
  }

  async deleteSession(id: string): Promise<boolean> {
    return (await this.#db.query('delete from accounts.session where id = $1 returning 1 as deleted', [id])).length > 0;
  }

  /** Removes sessions past their absolute expiry or idle for longer than `idleCutoff` allows. */
  async deleteExpiredSessions(now: Date, idleCutoff: Date): Promise<number> {
    const rows = await this.#db.query(
      'delete from accounts.session where expires_at <= $1::timestamptz or last_used_at <= $2::timestamptz returning 1 as deleted',
      [now.toISOString(), idleCutoff.toISOString()],
    );
    return rows.length;
  }
}
