// Reads and writes the `posts` schema. Lists are keyset-paginated on (created_at, id) with
// row comparisons the composite indexes answer directly, so a page costs the same at any
// depth. Conditional writes are evaluated by PostgreSQL (`where id = ? and version = ?`).
import type { EntityManager } from '@mikro-orm/postgresql';
import { asDate, queryRows, storeEm, type Orm } from '../db.ts';
import { PostEntity } from './entities.ts';

export interface PostRow {
  id: string;
  authorId: string;
  channelId: string | null;
  text: string;
  createdAt: Date;
  updatedAt: Date;
  version: number;
}

interface Keyset {
  limit: number;
  /** Keyset: only rows after this (createdAt, id) in the chosen order. */
  afterAt?: Date;
  afterId?: string;
  offset?: number;
}

export interface ListPostsQuery extends Keyset {
  /** An author's general posts, or a channel's posts. */
  of: { authorId: string } | { channelId: string };
  newestFirst: boolean;
  /** Half-open range of creation times: [from, to). */
  from?: Date;
  to?: Date;
}

export interface FeedQuery extends Keyset {
  authorIds: string[];
}

/** What a conditional write did: `stale` means the row exists with another version. */
export type WriteOutcome<T> = { kind: 'done'; row: T } | { kind: 'not-found' } | { kind: 'stale'; currentVersion: number };

const COLUMNS = ['id', 'author_id', 'channel_id', 'text', 'created_at', 'updated_at', 'version'];

function fromRecord(r: Record<string, unknown>): PostRow {
  return {
    id: r.id as string,
    authorId: r.author_id as string,
    channelId: (r.channel_id as string | null) ?? null,
    text: r.text as string,
    createdAt: asDate(r.created_at),
    updatedAt: asDate(r.updated_at),
    version: Number(r.version),
  };
}

function columns(alias: string): string {
  return COLUMNS.map((c) => `${alias}.${c}`).join(', ');
}

export class PostsStore {
  readonly #orm: Orm;

  constructor(orm: Orm) {
    this.#orm = orm;
  }

  #em(): EntityManager {
    return storeEm(this.#orm);
  }

  /**
   * Through MikroORM, for statements with an array parameter (the feed's authors): MikroORM
   * writes an array into the SQL as a list, which `array[?]` needs; queryRows' pool path would
   * send it as one array value. Never joins a transaction (the feed never runs in one).
   */
  async #select(sql: string, params: unknown[]): Promise<PostRow[]> {
    const rows = await this.#em().getConnection().execute<Record<string, unknown>[]>(sql, params);
    return rows.map(fromRecord);
  }

  /** Like #select, for statements with scalar parameters only: the fast path of `queryRows`. */
  async #selectScalars(sql: string, params: unknown[]): Promise<PostRow[]> {
    return (await queryRows(this.#orm, sql, params)).map(fromRecord);
  }

  async insert(row: Omit<PostRow, 'version'>): Promise<PostRow> {
    const post = { ...row, version: 0 };
    await queryRows(
      this.#orm,
      `insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version)
       values (?, ?, ?, ?, ?::timestamptz, ?::timestamptz, 0)`,
      [post.id, post.authorId, post.channelId, post.text, post.createdAt.toISOString(), post.updatedAt.toISOString()],
    );
    return post;
  }

  async find(id: string): Promise<PostRow | null> {
    const [found] = await this.#selectScalars(`select ${COLUMNS.join(', ')} from posts.post where id = ?`, [id]);
    return found ?? null;
  }

  /** One page of an author's general posts or of a channel's posts. */
  async list(query: ListPostsQuery): Promise<PostRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if ('authorId' in query.of) {
      where.push('p.author_id = ?', 'p.channel_id is null');
      params.push(query.of.authorId);
    } else {
      where.push('p.channel_id = ?');
      params.push(query.of.channelId);
    }
    if (query.from) {
      where.push('p.created_at >= ?::timestamptz');
      params.push(query.from.toISOString());
    }
    if (query.to) {
      where.push('p.created_at < ?::timestamptz');
      params.push(query.to.toISOString());
    }
    if (query.afterAt && query.afterId) {
      where.push(`(p.created_at, p.id) ${query.newestFirst ? '<' : '>'} (?::timestamptz, ?::uuid)`);
      params.push(query.afterAt.toISOString(), query.afterId);
    }
    const order = query.newestFirst ? 'desc' : 'asc';
    // For an author's general posts, leading with channel_id (null on every row here) lets
    // PostgreSQL see that (author_id, channel_id, created_at, id) is already in this order and
    // stop at the page's end; `channel_id is null` is not an equality, so without it PostgreSQL
    // reads and sorts all of the author's posts (see `feed`).
    const leading = 'authorId' in query.of ? `p.channel_id ${order}, ` : '';
    return this.#selectScalars(
      `select ${columns('p')} from posts.post p where ${where.join(' and ')}
        order by ${leading}p.created_at ${order}, p.id ${order} limit ? offset ?`,
      [...params, query.limit, query.offset ?? 0],
    );
  }

  /**
   * The newest general posts of any of `authorIds`, in three steps:
   *
   * 1. Per author, the keys (created_at, id) of its first `offset + limit` general posts after
   *    the cursor, from `post_author_id_channel_id_created_at_id_index` alone: a backward
   *    index-only scan that starts at the cursor and stops at the limit.
   * 2. Those keys merged and cut to the page (`limit`, `offset`).
   * 3. The page's rows, read by primary key.
   *
   * So a page reads a few index pages per author and `limit` rows: its cost grows with the
   * number of authors and with `offset + limit`, not with how many posts they wrote nor with
   * the cursor's depth. (Rows written since the last vacuum also cost a heap visit each in
   * step 1, as index-only scans do.) The inner `order by` leads with `channel_id`, which is
   * null on every row there: `channel_id is null` is not an equality, so without it the planner
   * does not see that the index range is already in (created_at, id) order, and reads and
   * sorts every general post of each author, heap rows included.
   */
  async feed(query: FeedQuery): Promise<PostRow[]> {
    if (query.authorIds.length === 0) return [];
    const after = query.afterAt && query.afterId ? 'and (x.created_at, x.id) < (?::timestamptz, ?::uuid)' : '';
    const afterParams = query.afterAt && query.afterId ? [query.afterAt.toISOString(), query.afterId] : [];
    const offset = query.offset ?? 0;
    return this.#select(
      `select ${columns('p')}
         from (
           select k.created_at, k.id
             from unnest(array[?]::uuid[]) as a(author_id)
             cross join lateral (
               select x.created_at, x.id from posts.post x
                where x.author_id = a.author_id and x.channel_id is null ${after}
                order by x.channel_id desc, x.created_at desc, x.id desc
                limit ?
             ) k
            order by k.created_at desc, k.id desc
            limit ? offset ?
         ) page
         join posts.post p on p.id = page.id
        order by page.created_at desc, page.id desc`,
      [query.authorIds, ...afterParams, offset + query.limit, query.limit, offset],
    );
  }

  /** Changes the text if the row still has `expectedVersion` (any version when undefined). */
  async updateText(id: string, expectedVersion: number | undefined, text: string, now: Date): Promise<WriteOutcome<PostRow>> {
    // RETURNING: the row this write produced, not whatever a concurrent writer made of it since.
    const [updated] = await this.#selectScalars(
      `update posts.post set text = ?, updated_at = ?::timestamptz, version = version + 1
        where id = ?${expectedVersion === undefined ? '' : ' and version = ?'}
       returning ${COLUMNS.join(', ')}`,
      [text, now.toISOString(), id, ...(expectedVersion === undefined ? [] : [expectedVersion])],
    );
    if (updated) return { kind: 'done', row: updated };
    const current = await this.#em().findOne(PostEntity, { id }, { fields: ['version'] });
    return current ? { kind: 'stale', currentVersion: current.version } : { kind: 'not-found' };
  }

  async delete(id: string, expectedVersion: number | undefined): Promise<WriteOutcome<null>> {
    const em = this.#em();
    const where = expectedVersion === undefined ? { id } : { id, version: expectedVersion };
    if ((await em.nativeDelete(PostEntity, where)) > 0) return { kind: 'done', row: null };
    const current = await em.findOne(PostEntity, { id }, { fields: ['version'] });
    return current ? { kind: 'stale', currentVersion: current.version } : { kind: 'not-found' };
  }

  async deleteByAuthor(authorId: string): Promise<number> {
    return this.#em().nativeDelete(PostEntity, { authorId });
  }

  async deleteByChannels(channelIds: string[]): Promise<number> {
    if (channelIds.length === 0) return 0;
    return this.#em().nativeDelete(PostEntity, { channelId: { $in: channelIds } });
  }
}
