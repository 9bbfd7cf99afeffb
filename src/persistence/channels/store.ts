// Reads and writes the `channels` schema. Conditional writes are evaluated by PostgreSQL
// (see conditional-write.ts); memberships go with their channel (foreign key, same schema).
import { conditionalWrite, type WriteOutcome } from '../conditional-write.ts';
import { asDate, joinOrBegin, violatedConstraint, withSavepoint, type Database, type Row, type UnitOfWork } from '../sql.ts';

export type { WriteOutcome } from '../conditional-write.ts';

export interface ChannelRow {
  id: string;
  ownerId: string;
  name: string;
  description: string;
  visibility: 'public' | 'private';
  createdAt: Date;
  updatedAt: Date;
  version: number;
}

export interface ChannelChanges {
  name?: string;
  description?: string;
  visibility?: 'public' | 'private';
}

export interface MembershipRow {
  id: string;
  channelId: string;
  accountId: string;
  createdAt: Date;
}

interface KeysetQuery {
  limit: number;
  newestFirst: boolean;
  /** Keyset: only rows after this id in the chosen order. */
  afterId?: string;
  offset?: number;
}

export type ListChannelsQuery = KeysetQuery;

export interface ListMembersQuery extends KeysetQuery {
  channelId: string;
}

const CHANNEL_COLUMNS = 'id, owner_id, name, description, visibility, created_at, updated_at, version';

function fromRecord(r: Row): ChannelRow {
  return {
    id: r.id as string,
    ownerId: r.owner_id as string,
    name: r.name as string,
    description: r.description as string,
    visibility: r.visibility as ChannelRow['visibility'],
    createdAt: asDate(r.created_at),
    updatedAt: asDate(r.updated_at),
    version: Number(r.version),
  };
}

const MEMBERSHIP_COLUMNS = 'id, channel_id, account_id, created_at';

function toMembershipRow(r: Row): MembershipRow {
  return { id: r.id as string, channelId: r.channel_id as string, accountId: r.account_id as string, createdAt: asDate(r.created_at) };
}

/** The keyset condition (after `params`, which it extends) and the page's order, limit and offset. */
function keyset(query: KeysetQuery, where: string[], params: unknown[]): string {
  if (query.afterId) {
    params.push(query.afterId);
    where.push(`id ${query.newestFirst ? '<' : '>'} $${params.length}`);
  }
  params.push(query.limit, query.offset ?? 0);
  return `where ${where.join(' and ')} order by id ${query.newestFirst ? 'desc' : 'asc'} limit $${params.length - 1} offset $${params.length}`;
}

export class ChannelsStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Inserts a channel and its owner's membership together. */
  async insertChannel(row: Omit<ChannelRow, 'version'>, ownerMembershipId: string, uow?: UnitOfWork): Promise<ChannelRow> {
    const channel = { ...row, version: 0 };
    await joinOrBegin(this.#db, uow, async (tx) => {
      await tx.query(
        `insert into channels.channel (id, owner_id, name, description, visibility, created_at, updated_at, version)
         values ($1, $2, $3, $4, $5, $6::timestamptz, $7::timestamptz, 0)`,
        [row.id, row.ownerId, row.name, row.description, row.visibility, row.createdAt.toISOString(), row.updatedAt.toISOString()],
      );
      await tx.query('insert into channels.membership (id, channel_id, account_id, created_at) values ($1, $2, $3, $4::timestamptz)', [
        ownerMembershipId,
        row.id,
        row.ownerId,
        row.createdAt.toISOString(),
      ]);
    });
    return channel;
  }

  async findChannel(id: string): Promise<ChannelRow | null> {
    const [found] = await this.#db.query(`select ${CHANNEL_COLUMNS} from channels.channel where id = $1`, [id]);
    return found ? fromRecord(found) : null;
  }

  /** The channel and whether `accountId` is a member of it, in one query. */
  async findChannelFor(id: string, accountId: string | null): Promise<{ channel: ChannelRow; member: boolean } | null> {
    const [row] = await this.#db.query(
      `select ${CHANNEL_COLUMNS.split(', ').map((c) => `c.${c}`).join(', ')}, m.id is not null as member
         from channels.channel c
         left join channels.membership m on m.channel_id = c.id and m.account_id = $1
        where c.id = $2`,
      [accountId, id],
    );
    return row ? { channel: fromRecord(row), member: row.member === true } : null;
  }

  async listPublic(query: ListChannelsQuery): Promise<ChannelRow[]> {
    const params: unknown[] = [];
    const rows = await this.#db.query(`select ${CHANNEL_COLUMNS} from channels.channel ${keyset(query, ["visibility = 'public'"], params)}`, params);
    return rows.map(fromRecord);
  }

  /** Applies `changes` if the row still has `expectedVersion` (any version when undefined). */
  async updateChannel(id: string, expectedVersion: number | undefined, changes: ChannelChanges, now: Date): Promise<WriteOutcome<ChannelRow>> {
    const params: unknown[] = [now.toISOString()];
    const set = ['updated_at = $1::timestamptz', 'version = version + 1'];
    for (const [column, value] of [['name', changes.name], ['description', changes.description], ['visibility', changes.visibility]] as const) {
      if (value === undefined) continue;
      params.push(value);
      set.push(`${column} = $${params.length}`);
    }
    return conditionalWrite(
      this.#db,
      { table: 'channels.channel', id, expectedVersion, statement: `update channels.channel set ${set.join(', ')}`, params, returning: CHANNEL_COLUMNS },
      fromRecord,
    );
  }

  /**
   * Deletes the channel (and, by cascade, its memberships) if it still has `expectedVersion`, on
   * `uow` when given (with the jobs of the clean-ups it causes).
   */
  async deleteChannel(id: string, expectedVersion: number | undefined, uow?: UnitOfWork): Promise<WriteOutcome<null>> {
    return conditionalWrite(uow ?? this.#db, { table: 'channels.channel', id, expectedVersion, statement: 'delete from channels.channel' });
  }

  /** Runs `work` in a transaction: for a write and the events it publishes (a job each), which must commit together. */
  unitOfWork<T>(work: (uow: UnitOfWork) => Promise<T>): Promise<T> {
    return this.#db.transaction(work);
  }

  /** Inserts a membership, or returns the one that already exists. */
  async insertMembership(row: MembershipRow, uow?: UnitOfWork): Promise<{ kind: 'done' | 'exists'; row: MembershipRow } | { kind: 'no-channel' }> {
    const db = uow ?? this.#db;
    try {
      // In a savepoint inside a unit of work, so a conflict does not abort it.
      await withSavepoint(db, () =>
        db.query('insert into channels.membership (id, channel_id, account_id, created_at) values ($1, $2, $3, $4::timestamptz)', [
          row.id,
          row.channelId,
          row.accountId,
          row.createdAt.toISOString(),
        ]),
      );
      return { kind: 'done', row };
    } catch (error) {
      if (violatedConstraint(error, 'foreign-key') !== undefined) return { kind: 'no-channel' };
      if (violatedConstraint(error, 'unique') === undefined) throw error;
    }
    const existing = await this.findMembership(row.channelId, row.accountId);
    return existing ? { kind: 'exists', row: existing } : { kind: 'no-channel' };
  }

  async findMembership(channelId: string, accountId: string): Promise<MembershipRow | null> {
    const [found] = await this.#db.query(`select ${MEMBERSHIP_COLUMNS} from channels.membership where channel_id = $1 and account_id = $2`, [
      channelId,
      accountId,
    ]);
    return found ? toMembershipRow(found) : null;
  }

  async listMembers(query: ListMembersQuery): Promise<MembershipRow[]> {
    const params: unknown[] = [query.channelId];
    const rows = await this.#db.query(`select ${MEMBERSHIP_COLUMNS} from channels.membership ${keyset(query, ['channel_id = $1'], params)}`, params);
    return rows.map(toMembershipRow);
  }

  /** The ids of a channel's first `limit` members, in the order they joined. */
  async memberIds(channelId: string, limit: number): Promise<string[]> {
    const rows = await this.#db.query('select account_id from channels.membership where channel_id = $1 order by id limit $2', [channelId, limit]);
    return rows.map((r) => r.account_id as string);
  }

  /** Which of `accountIds` are members of the channel, in one query. */
  async membersAmong(channelId: string, accountIds: readonly string[]): Promise<string[]> {
    if (accountIds.length === 0) return [];
    const rows = await this.#db.query('select account_id from channels.membership where channel_id = $1 and account_id = any($2::uuid[])', [channelId, accountIds]);
    return rows.map((r) => r.account_id as string);
  }

  async deleteMembership(channelId: string, accountId: string): Promise<boolean> {
    const deleted = await this.#db.query('delete from channels.membership where channel_id = $1 and account_id = $2 returning 1 as deleted', [
      channelId,
      accountId,
    ]);
    return deleted.length > 0;
  }

  /**
   * Deletes the channels an account owns and its memberships elsewhere, in `uow` (with the jobs
   * of the clean-ups it causes) or a transaction of its own; returns the deleted channels' ids.
   */
  async deleteAccountChannels(accountId: string, uow?: UnitOfWork): Promise<string[]> {
    return joinOrBegin(this.#db, uow, async (tx) => {
      const owned = await tx.query('delete from channels.channel where owner_id = $1 returning id', [accountId]);
      await tx.query('delete from channels.membership where account_id = $1', [accountId]);
      return owned.map((c) => c.id as string);
    });
  }
}
