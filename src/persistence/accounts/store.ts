// Reads and writes the accounts schema. Every write that must not lose an update is a
// conditional statement evaluated by PostgreSQL (`where id = ? and version = ?`). Every method
// joins the caller's transaction when there is one (see `storeEm`).
import { UniqueConstraintViolationException, raw } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { silentLog, type Log } from '../../log.ts';
import { asDate, queryRows, storeEm, type Orm } from '../db.ts';
import { AccountEntity, SessionEntity } from './entities.ts';

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

/** What a conditional write did: `stale` means the row exists with another version. */
export type WriteOutcome<T> =
  | { kind: 'done'; row: T }
  | { kind: 'not-found' }
  | { kind: 'stale'; currentVersion: number };

const ACCOUNT_FIELDS = ['id', 'email', 'handle', 'displayName', 'bio', 'createdAt', 'updatedAt', 'version'] as const;

type AccountEntityRow = Pick<InstanceType<typeof AccountEntity.class>, (typeof ACCOUNT_FIELDS)[number]>;

function toAccountRow(e: AccountEntityRow): AccountRow {
  return {
    id: e.id,
    email: e.email,
    handle: e.handle,
    displayName: e.displayName,
    bio: e.bio ?? null,
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
    version: e.version,
  };
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export class AccountsStore {
  readonly #orm: Orm;
  readonly #log: Log;

  constructor(orm: Orm, log: Log = silentLog) {
    this.#orm = orm;
    this.#log = log;
  }

  #em(): EntityManager {
    return storeEm(this.#orm);
  }

  /** Inserts an account, or reports which unique field is already taken. */
  async insertAccount(
    row: NewAccountRow,
  ): Promise<{ kind: 'done'; row: AccountRow } | { kind: 'taken'; field: 'email' | 'handle' }> {
    const em = this.#em();
    try {
      // In a savepoint: inside a caller's transaction a failed statement would otherwise
      // abort the whole transaction, and the caller may still want to write (or commit).
      await em.transactional((inner) => inner.insert(AccountEntity, { ...row, version: 0 }));
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) {
        const field = /account_email_key/.test(error.message) ? 'email' : 'handle';
        // Expected (someone else has it); the SQL in the error's message is not logged, it holds the row.
        this.#log.debug({ field }, 'account not inserted: unique value taken');
        return { kind: 'taken', field };
      }
      throw error;
    }
    const { handleKey: _k, passwordHash: _p, ...account } = row;
    return { kind: 'done', row: { ...account, version: 0 } };
  }

  async findAccount(id: string): Promise<AccountRow | null> {
    const found = await this.#em().findOne(AccountEntity, { id }, { fields: ACCOUNT_FIELDS });
    return found ? toAccountRow(found) : null;
  }

  /** The summaries of those of `ids` that exist, in one query. */
  async findSummaries(ids: readonly string[]): Promise<AccountSummaryRow[]> {
    if (ids.length === 0) return [];
    const rows = await this.#em().find(AccountEntity, { id: { $in: [...ids] } }, { fields: ['id', 'handle', 'displayName'] });
    return rows.map((r) => ({ id: r.id, handle: r.handle, displayName: r.displayName }));
  }

  /** The ids of the accounts with these handle keys (lower-case handles), in one query. */
  async findIdsByHandleKeys(keys: readonly string[]): Promise<{ id: string; handleKey: string }[]> {
    if (keys.length === 0) return [];
    const rows = await queryRows(this.#orm, "select id, handle_key from accounts.account where handle_key = any(string_to_array(?, ','))", [keys.join(',')]);
    return rows.map((r) => ({ id: r.id as string, handleKey: r.handle_key as string }));
  }

  /** The account and its password hash, for signing in. */
  async findCredentials(email: string): Promise<{ accountId: string; passwordHash: string } | null> {
    const found = await this.#em().findOne(AccountEntity, { email }, { fields: ['id', 'passwordHash'] });
    return found ? { accountId: found.id, passwordHash: found.passwordHash } : null;
  }

  async listAccounts(query: ListAccountsQuery): Promise<AccountRow[]> {
    const where: Record<string, unknown> = {};
    if (query.handleKeyPrefix) where.handleKey = { $like: `${escapeLike(query.handleKeyPrefix)}%` };
    if (query.afterId) where.id = query.newestFirst ? { $lt: query.afterId } : { $gt: query.afterId };
    const rows = await this.#em().find(AccountEntity, where, {
      fields: ACCOUNT_FIELDS,
      orderBy: { id: query.newestFirst ? 'desc' : 'asc' },
      limit: query.limit,
      offset: query.offset,
    });
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
    const em = this.#em();
    const where = expectedVersion === undefined ? { id } : { id, version: expectedVersion };
    const [updated] = await em
      .createQueryBuilder(AccountEntity)
      .update({ ...changes, updatedAt: now, version: raw('version + 1') })
      .where(where)
      .returning([...ACCOUNT_FIELDS])
      .execute<AccountEntityRow[]>('all');
    if (updated) return { kind: 'done', row: toAccountRow(updated) };
    const current = await em.findOne(AccountEntity, { id }, { fields: ['version'] });
    return current ? { kind: 'stale', currentVersion: current.version } : { kind: 'not-found' };
  }

  /** Deletes the account (and, by cascade, its sessions) if it still has `expectedVersion`. */
  async deleteAccount(id: string, expectedVersion: number | undefined): Promise<WriteOutcome<null>> {
    const em = this.#em();
    const where = expectedVersion === undefined ? { id } : { id, version: expectedVersion };
    const deleted = await em.nativeDelete(AccountEntity, where);
    if (deleted > 0) return { kind: 'done', row: null };
    const current = await em.findOne(AccountEntity, { id }, { fields: ['version'] });
    return current ? { kind: 'stale', currentVersion: current.version } : { kind: 'not-found' };
  }

  async insertSession(row: SessionRow & { tokenHash: string }): Promise<void> {
    const { accountId, ...rest } = row;
    await this.#em().insert(SessionEntity, { ...rest, account: accountId });
  }

  async findSessionByTokenHash(tokenHash: string): Promise<SessionRow | null> {
    const [found] = await queryRows(
      this.#orm,
      'select id, account_id, created_at, last_used_at, expires_at from accounts.session where token_hash = ?',
      [tokenHash],
    );
    if (!found) return null;
    return {
      id: found.id as string,
      accountId: found.account_id as string,
      createdAt: asDate(found.created_at),
      lastUsedAt: asDate(found.last_used_at),
      expiresAt: asDate(found.expires_at),
    };
  }

  /** Records use of a session, at most once per `granularityMs` to spare writes. */
  async touchSession(id: string, now: Date, granularityMs: number): Promise<void> {
    await this.#em().nativeUpdate(
      SessionEntity,
      { id, lastUsedAt: { $lt: new Date(now.getTime() - granularityMs) } },
      { lastUsedAt: now },
    );
  }

  async deleteSession(id: string): Promise<boolean> {
    return (await this.#em().nativeDelete(SessionEntity, { id })) > 0;
  }

  /** Removes sessions past their absolute expiry or idle for longer than `idleCutoff` allows. */
  async deleteExpiredSessions(now: Date, idleCutoff: Date): Promise<number> {
    return this.#em().nativeDelete(SessionEntity, {
      $or: [{ expiresAt: { $lte: now } }, { lastUsedAt: { $lte: idleCutoff } }],
    });
  }
}
