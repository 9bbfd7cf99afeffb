// Reads and writes the `posts` schema. Lists are keyset-paginated on (created_at, id) with
// row comparisons the composite indexes answer directly, so a page costs the same at any
// depth. Conditional writes are evaluated by PostgreSQL (see conditional-write.ts).
import { conditionalWrite, type WriteOutcome } from '../conditional-write.ts';
import { asDate, joinOrBegin, type Database, type Row, type UnitOfWork } from '../sql.ts';

export type { WriteOutcome } from '../conditional-write.ts';

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

/**
 * The database's time, to the millisecond: a post's times are set by the database, not by the
 * instance that writes them, and cut to what a JavaScript Date (and so a cursor) holds.
 */
const NOW = "date_trunc('milliseconds', statement_timestamp())";

const COLUMNS = ['id', 'author_id', 'channel_id', 'text', 'created_at', 'updated_at', 'version'];

function fromRecord(r: Row): PostRow {
  const createdAt = asDate(r.created_at);
  // An unedited post's two times are one Date (no code changes a Date in place): a kept post
  // then holds about 100 bytes less (a Date is 96 on the heap), and a page of them parses half
  // the times (the pool reads times as text). keptPostBytes still covers an edited post's two.
  const updatedAt = r.updated_at === r.created_at ? createdAt : asDate(r.updated_at);
  return {
    id: r.id as string,
    authorId: r.author_id as string,
    channelId: (r.channel_id as string | null) ?? null,
    text: r.text as string,
    createdAt,
    updatedAt: updatedAt.getTime() === createdAt.getTime() ? createdAt : updatedAt,
    version: Number(r.version),
  };
}

function columns(alias: string): string {
  return COLUMNS.map((c) => `${alias}.${c}`).join(', ');
}

export class PostsStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /**
   * Runs `work` in the caller's unit of work when given, in a transaction of its own otherwise:
   * for a write and the events it publishes (a job each), which must commit together.
   */
  unitOfWork<T>(uow: UnitOfWork | undefined, work: (uow: UnitOfWork) => Promise<T>): Promise<T> {
    return joinOrBegin(this.#db, uow, work);
  }

  async #select(sql: string, params: unknown[]): Promise<PostRow[]> {
    return (await this.#db.query(sql, params)).map(fromRecord);
  }

  /**
   * A new post at version 0. Its times are the database's (now, to the millisecond, as every
   * time read back is): the fan-out finds new posts by comparing them with the database's clock,
   * so a post stamped by an instance whose clock lags would be missed (see timelines' `pass`).
   * The clock is read as the row is made, once the statement holds its locks: the fan-out bounds
   * how old a post it has not seen yet can be by the start of the transactions that have written
   * (TimelinesStore.pass), and a statement's own time (`statement_timestamp()`) is earlier than
   * its first write by as long as it waited for a lock on the table (a migration's, say).
   */
  async insert(row: Omit<PostRow, 'version' | 'createdAt' | 'updatedAt'>, uow?: UnitOfWork): Promise<PostRow> {
    const [stamped] = await (uow ?? this.#db).query(
      `insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version)
       select $1::uuid, $2::uuid, $3::uuid, $4::text, t.at, t.at, 0 from (select date_trunc('milliseconds', clock_timestamp()) as at) t
       returning created_at`,
      [row.id, row.authorId, row.channelId, row.text],
    );
    const at = asDate(stamped!.created_at);
    return { ...row, createdAt: at, updatedAt: at, version: 0 };
  }

  async find(id: string): Promise<PostRow | null> {
    const [found] = await this.#select(`select ${COLUMNS.join(', ')} from posts.post where id = $1`, [id]);
    return found ?? null;
  }

  /** One page of an author's general posts or of a channel's posts. */
  async list(query: ListPostsQuery): Promise<PostRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if ('authorId' in query.of) {
      params.push(query.of.authorId);
      where.push(`p.author_id = $${params.length}`, 'p.channel_id is null');
    } else {
      params.push(query.of.channelId);
      where.push(`p.channel_id = $${params.length}`);
    }
    if (query.from) {
      params.push(query.from.toISOString());
      where.push(`p.created_at >= $${params.length}::timestamptz`);
    }
    if (query.to) {
      params.push(query.to.toISOString());
      where.push(`p.created_at < $${params.length}::timestamptz`);
    }
    if (query.afterAt && query.afterId) {
      params.push(query.afterAt.toISOString(), query.afterId);
      where.push(`(p.created_at, p.id) ${query.newestFirst ? '<' : '>'} ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    const order = query.newestFirst ? 'desc' : 'asc';
    // For an author's general posts, leading with channel_id (null on every row here) lets
    // PostgreSQL see that (author_id, channel_id, created_at, id) is already in this order and
    // stop at the page's end; `channel_id is null` is not an equality, so without it PostgreSQL
    // reads and sorts all of the author's posts.
    const leading = 'authorId' in query.of ? `p.channel_id ${order}, ` : '';
    params.push(query.limit, query.offset ?? 0);
    return this.#select(
      `select ${columns('p')} from posts.post p where ${where.join(' and ')}
        order by ${leading}p.created_at ${order}, p.id ${order} limit $${params.length - 1} offset $${params.length}`,
      params,
    );
  }

  /** Changes the text if the row still has `expectedVersion` (any version when undefined). */
  async updateText(id: string, expectedVersion: number | undefined, text: string): Promise<WriteOutcome<PostRow>> {
    return conditionalWrite(
      this.#db,
      {
        table: 'posts.post',
        id,
        expectedVersion,
        statement: `update posts.post set text = $1, updated_at = greatest(created_at, ${NOW}), version = version + 1`,
        params: [text],
        returning: COLUMNS.join(', '),
      },
      fromRecord,
    );
  }

  /**
   * Changes the text of `authorId`'s own general post if it still has `expectedVersion` (any
   * version when undefined), in one statement; null when it changed nothing (no such post, not a
   * general post of `authorId`, or another version), for the caller to find out which.
   */
  async updateOwnText(id: string, authorId: string, expectedVersion: number | undefined, text: string): Promise<PostRow | null> {
    const params: unknown[] = [text, id, authorId];
    if (expectedVersion !== undefined) params.push(expectedVersion);
    const [row] = await this.#db.query(
      `update posts.post set text = $1, updated_at = greatest(created_at, ${NOW}), version = version + 1
        where id = $2 and author_id = $3 and channel_id is null${expectedVersion === undefined ? '' : ' and version = $4'}
       returning ${COLUMNS.join(', ')}`,
      params,
    );
    return row ? fromRecord(row) : null;
  }

  /** Deletes the post if it still has `expectedVersion`, on `uow` when given (with the jobs of the clean-ups it causes). */
  async delete(id: string, expectedVersion: number | undefined, uow?: UnitOfWork): Promise<WriteOutcome<null>> {
    return conditionalWrite(uow ?? this.#db, { table: 'posts.post', id, expectedVersion, statement: 'delete from posts.post' });
  }

  async deleteByAuthor(authorId: string): Promise<number> {
    return (await this.#db.query('delete from posts.post where author_id = $1 returning 1 as deleted', [authorId])).length;
  }

  async deleteByChannels(channelIds: string[]): Promise<number> {
    if (channelIds.length === 0) return 0;
    return (await this.#db.query('delete from posts.post where channel_id = any($1::uuid[]) returning 1 as deleted', [channelIds])).length;
  }
}
