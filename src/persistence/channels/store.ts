// Reads and writes the `channels` schema. Conditional writes are evaluated by PostgreSQL
// (`where id = ? and version = ?`); memberships go with their channel (foreign key, same schema).
import { ForeignKeyConstraintViolationException, UniqueConstraintViolationException, raw } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { asDate, queryRows, storeEm, type Orm } from '../db.ts';
import { ChannelEntity, MembershipEntity } from './entities.ts';

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

/** What a conditional write did: `stale` means the row exists with another version. */
export type WriteOutcome<T> = { kind: 'done'; row: T } | { kind: 'not-found' } | { kind: 'stale'; currentVersion: number };

const CHANNEL_COLUMNS = 'id, owner_id, name, description, visibility, created_at, updated_at, version';

type ChannelRecord = Record<string, unknown>;

function fromRecord(r: ChannelRecord): ChannelRow {
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

function toChannelRow(e: ChannelRow): ChannelRow {
  return {
    id: e.id,
    ownerId: e.ownerId,
    name: e.name,
    description: e.description,
    visibility: e.visibility,
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
    version: e.version,
  };
}

function toMembershipRow(e: { id: string; channel: { id: string }; accountId: string; createdAt: Date }): MembershipRow {
  return { id: e.id, channelId: e.channel.id, accountId: e.accountId, createdAt: e.createdAt };
}

function keyset(query: KeysetQuery): Record<string, unknown> {
  return query.afterId ? { id: query.newestFirst ? { $lt: query.afterId } : { $gt: query.afterId } } : {};
}

export class ChannelsStore {
  readonly #orm: Orm;

  constructor(orm: Orm) {
    this.#orm = orm;
  }

  #em(): EntityManager {
    return storeEm(this.#orm);
  }

  /** Inserts a channel and its owner's membership together. */
  async insertChannel(row: Omit<ChannelRow, 'version'>, ownerMembershipId: string): Promise<ChannelRow> {
    const channel = { ...row, version: 0 };
    await this.#em().transactional(async (em) => {
      await em.insert(ChannelEntity, channel);
      await em.insert(MembershipEntity, { id: ownerMembershipId, channel: row.id, accountId: row.ownerId, createdAt: row.createdAt });
    });
    return channel;
  }

  async findChannel(id: string): Promise<ChannelRow | null> {
    const found = await this.#em().findOne(ChannelEntity, { id });
    return found ? toChannelRow(found) : null;
  }

  /** The channel and whether `accountId` is a member of it, in one query. */
  async findChannelFor(id: string, accountId: string | null): Promise<{ channel: ChannelRow; member: boolean } | null> {
    const rows = (await queryRows(
      this.#orm,
      `select ${CHANNEL_COLUMNS.split(', ').map((c) => `c.${c}`).join(', ')}, m.id is not null as member
         from channels.channel c
         left join channels.membership m on m.channel_id = c.id and m.account_id = ?
        where c.id = ?`,
      [accountId, id],
    )) as unknown as ChannelRecord[];
    const row = rows[0];
    return row ? { channel: fromRecord(row), member: row.member === true } : null;
  }

  async listPublic(query: ListChannelsQuery): Promise<ChannelRow[]> {
    const rows = await this.#em().find(ChannelEntity, { visibility: 'public', ...keyset(query) }, {
      orderBy: { id: query.newestFirst ? 'desc' : 'asc' },
      limit: query.limit,
      offset: query.offset,
    });
    return rows.map(toChannelRow);
  }

  /** Applies `changes` if the row still has `expectedVersion` (any version when undefined). */
  async updateChannel(id: string, expectedVersion: number | undefined, changes: ChannelChanges, now: Date): Promise<WriteOutcome<ChannelRow>> {
    const em = this.#em();
    const where = expectedVersion === undefined ? { id } : { id, version: expectedVersion };
    // RETURNING: the row this write produced, not whatever a concurrent writer made of it since.
    const [updated] = await em
      .createQueryBuilder(ChannelEntity)
      .update({ ...changes, updatedAt: now, version: raw('version + 1') })
      .where(where)
      .returning(['id', 'ownerId', 'name', 'description', 'visibility', 'createdAt', 'updatedAt', 'version'])
      .execute<ChannelRow[]>('all');
    if (updated) return { kind: 'done', row: toChannelRow(updated) };
    const current = await em.findOne(ChannelEntity, { id }, { fields: ['version'] });
    return current ? { kind: 'stale', currentVersion: current.version } : { kind: 'not-found' };
  }

  /** Deletes the channel (and, by cascade, its memberships) if it still has `expectedVersion`. */
  async deleteChannel(id: string, expectedVersion: number | undefined): Promise<WriteOutcome<null>> {
    const em = this.#em();
    const where = expectedVersion === undefined ? { id } : { id, version: expectedVersion };
    if ((await em.nativeDelete(ChannelEntity, where)) > 0) return { kind: 'done', row: null };
    const current = await em.findOne(ChannelEntity, { id }, { fields: ['version'] });
    return current ? { kind: 'stale', currentVersion: current.version } : { kind: 'not-found' };
  }

  /** Inserts a membership, or returns the one that already exists. */
  async insertMembership(row: MembershipRow): Promise<{ kind: 'done' | 'exists'; row: MembershipRow } | { kind: 'no-channel' }> {
    const em = this.#em();
    try {
      // In a savepoint, so a conflict does not abort an enclosing transaction.
      await em.transactional((inner) =>
        inner.insert(MembershipEntity, { id: row.id, channel: row.channelId, accountId: row.accountId, createdAt: row.createdAt }),
      );
      return { kind: 'done', row };
    } catch (error) {
      if (error instanceof ForeignKeyConstraintViolationException) return { kind: 'no-channel' };
      if (!(error instanceof UniqueConstraintViolationException)) throw error;
    }
    const existing = await this.findMembership(row.channelId, row.accountId);
    return existing ? { kind: 'exists', row: existing } : { kind: 'no-channel' };
  }

  async findMembership(channelId: string, accountId: string): Promise<MembershipRow | null> {
    const found = await this.#em().findOne(MembershipEntity, { channel: channelId, accountId });
    return found ? toMembershipRow(found) : null;
  }

  async listMembers(query: ListMembersQuery): Promise<MembershipRow[]> {
    const rows = await this.#em().find(MembershipEntity, { channel: query.channelId, ...keyset(query) }, {
      orderBy: { id: query.newestFirst ? 'desc' : 'asc' },
      limit: query.limit,
      offset: query.offset,
    });
    return rows.map(toMembershipRow);
  }

  /** The ids of a channel's first `limit` members, in the order they joined. */
  async memberIds(channelId: string, limit: number): Promise<string[]> {
    const rows = await queryRows(this.#orm, 'select account_id from channels.membership where channel_id = ? order by id limit ?', [channelId, limit]);
    return rows.map((r) => r.account_id as string);
  }

  /** Which of `accountIds` are members of the channel, in one query. */
  async membersAmong(channelId: string, accountIds: readonly string[]): Promise<string[]> {
    if (accountIds.length === 0) return [];
    const rows = await queryRows(
      this.#orm,
      "select account_id from channels.membership where channel_id = ? and account_id = any(string_to_array(?, ',')::uuid[])",
      [channelId, accountIds.join(',')],
    );
    return rows.map((r) => r.account_id as string);
  }

  async deleteMembership(channelId: string, accountId: string): Promise<boolean> {
    return (await this.#em().nativeDelete(MembershipEntity, { channel: channelId, accountId })) > 0;
  }

  /** Deletes the channels an account owns and its memberships elsewhere; returns the deleted channels' ids. */
  async deleteAccountChannels(accountId: string): Promise<string[]> {
    return this.#em().transactional(async (em) => {
      const owned = await em.find(ChannelEntity, { ownerId: accountId }, { fields: ['id'] });
      const ids = owned.map((c) => c.id);
      if (ids.length > 0) await em.nativeDelete(ChannelEntity, { id: { $in: ids } });
      await em.nativeDelete(MembershipEntity, { accountId });
      return ids;
    });
  }
}
