// Posts: general ones, on their author's profile and in feeds (the timelines domain makes
// those), and channel posts, which only exist inside their channel. Other domains decide what
// this one cannot know: the channels domain whether a caller may see or post in a channel, the
// accounts domain who the authors are. Each is asked once per request or page,
// never once per post; posts whose author is gone are dropped even if the clean-up that
// closing an account triggers has not finished.
import { newId } from '../ids.ts';
import type { PostRow, PostsStore } from '../../persistence/posts/index.ts';
import type { AccountSummary, AccountsService, Caller } from '../accounts/index.ts';
import { noCaching, type Caching } from '../cache.ts';
import type { ChannelAccess, ChannelsService } from '../channels/index.ts';
import { Forbidden, InvalidInput, NotFound, PreconditionFailed } from '../errors.ts';
import { publishing, type DomainEvents } from '../events.ts';
import { pageStart, toPage, type Page } from '../pagination.ts';
import { parseBetween } from './between.ts';
import { KeptPosts } from './kept.ts';
import { postBy, type ListPostsRequest, type NewPost, type Post, type PostPatch, type PostsSettings } from './model.ts';
import { whenCommitted, type UnitOfWork } from '../unit-of-work.ts';

const byTime = { byTime: true };

const createdAt = (row: PostRow) => row.createdAt;

function checkText(text: string): string {
  if (!validText(text)) {
    if (text.trim() === '') throw new InvalidInput([{ field: 'text', detail: 'must not be blank' }]);
    throw new InvalidInput([{ field: 'text', detail: 'must not contain NUL characters' }]);
  }
  return text;
}

function validText(text: string): boolean {
  return text.trim() !== '' && !text.includes('\u0000');
}

/** The posts domain's public service: what other domains and the handlers use, in process or through the stub (src/remote/posts.ts). */
export interface PostsService {
  publish(caller: Caller, input: NewPost, unitOfWork?: UnitOfWork): Promise<Post>;
  publishInChannel(caller: Caller, channelId: string, input: NewPost, unitOfWork?: UnitOfWork): Promise<Post>;
  get(caller: Caller | null, postId: string): Promise<Post>;
  edit(caller: Caller, postId: string, expectedVersion: number | undefined, patch: PostPatch): Promise<Post>;
  remove(caller: Caller, postId: string, expectedVersion: number | undefined): Promise<void>;
  permissions(caller: Caller | null, postId: string): Promise<{ update: boolean; delete: boolean }>;
  listByAuthor(accountId: string, request: ListPostsRequest): Promise<Page<Post>>;
  listInChannel(caller: Caller | null, channelId: string, request: ListPostsRequest): Promise<Page<Post>>;
  channelPermissions(caller: Caller | null, channelId: string): Promise<{ post: boolean }>;
  forgetAuthor(accountId: string): Promise<void>;
  forgetChannels(channelIds: string[]): Promise<void>;
}

export class PostsArchive implements PostsService {
  readonly #store: PostsStore;
  readonly #accounts: AccountsService;
  readonly #channels: ChannelsService;
  readonly #settings: PostsSettings;
  readonly #events: DomainEvents | undefined;
  /** Posts read by id and channel pages kept in memory (kept.ts); writes read the database. */
  readonly #kept: KeptPosts;

  constructor(
    store: PostsStore,
    others: { accounts: AccountsService; channels: ChannelsService },
    settings: PostsSettings,
    events?: DomainEvents,
    caching: Caching = noCaching,
  ) {
    this.#events = events;
    this.#kept = new KeptPosts(caching, settings);
    this.#store = store;
    this.#accounts = others.accounts;
    this.#channels = others.channels;
    this.#settings = settings;
  }

  /** Publishes a general post by the caller. */
  async publish(caller: Caller, input: NewPost, unitOfWork?: UnitOfWork): Promise<Post> {
    return this.#insert(caller, null, input, unitOfWork);
  }

  /** Publishes a post inside a channel; only its members may. */
  async publishInChannel(caller: Caller, channelId: string, input: NewPost, unitOfWork?: UnitOfWork): Promise<Post> {
    const access = await this.#channels.access(caller, channelId);
    if (!access.member) throw new Forbidden('join the channel to post in it');
    return this.#insert(caller, channelId, input, unitOfWork);
  }

  async get(caller: Caller | null, postId: string): Promise<Post> {
    const { row } = await this.#visible(caller, postId, true);
    return this.#one(row);
  }

  /** Changes the caller's own post if `expectedVersion` is current (any version when undefined). */
  async edit(caller: Caller, postId: string, expectedVersion: number | undefined, patch: PostPatch): Promise<Post> {
    // The common case in one statement: the caller's own general post, at the version it saw.
    // When that changes nothing, the post is read to tell why (not found, not the caller's,
    // stale) or to edit a channel post, as if the attempt had not been made.
    if (patch.text !== undefined && validText(patch.text)) {
      const edited = await this.#store.updateOwnText(postId, caller.accountId, expectedVersion, patch.text);
      if (edited) {
        await this.#changed(edited);
        return this.#one(edited);
      }
    }
    const { row } = await this.#visible(caller, postId);
    if (row.authorId !== caller.accountId) throw new Forbidden('only the author may edit a post');
    if (patch.text === undefined) {
      // An empty merge patch changes nothing, but the precondition still holds.
      if (expectedVersion !== undefined && row.version !== expectedVersion) throw this.#stale(postId, row.version);
      return this.#one(row);
    }
    const outcome = await this.#store.updateText(postId, expectedVersion, checkText(patch.text));
    if (outcome.kind === 'not-found') throw this.#gone(postId);
    if (outcome.kind === 'stale') throw this.#stale(postId, outcome.currentVersion);
    await this.#changed(outcome.row);
    return this.#one(outcome.row);
  }

  /** Its author deletes a post; so may the owner of the channel a channel post is in. */
  async remove(caller: Caller, postId: string, expectedVersion: number | undefined): Promise<void> {
    const { row, channel } = await this.#visible(caller, postId);
    if (row.authorId !== caller.accountId && !channel?.owner) throw new Forbidden('only the author or the channel owner may delete a post');
    const deleted = { postId: row.id, authorId: row.authorId, channelId: row.channelId };
    // The deletion and its clean-ups' jobs commit together; the clean-ups are also done now.
    const outcome = await publishing(
      this.#events,
      'post.deleted',
      (uow) => this.#store.delete(postId, expectedVersion, uow),
      (outcome) => (outcome.kind === 'done' ? deleted : null),
      (work) => this.#store.unitOfWork(undefined, work),
    );
    if (outcome.kind === 'not-found') throw this.#gone(postId);
    if (outcome.kind === 'stale') throw this.#stale(postId, outcome.currentVersion);
    await this.#changed(row);
    await this.#events?.emit('post.deleted', deleted);
  }

  async permissions(caller: Caller | null, postId: string): Promise<{ update: boolean; delete: boolean }> {
    const { row, channel } = await this.#visible(caller, postId, true);
    const author = caller !== null && row.authorId === caller.accountId;
    return { update: author, delete: author || channel?.owner === true };
  }

  /** An account's general posts. */
  async listByAuthor(accountId: string, request: ListPostsRequest): Promise<Page<Post>> {
    const range = parseBetween(request.between, request.tz);
    const filters = { authorId: accountId, ...this.#rangeFilters(range), newestFirst: request.newestFirst };
    const start = pageStart(request, filters, this.#settings.maxPage, byTime);
    // Every post of the page has this author: its summary is looked up once, not per post.
    const author = await this.#author(accountId);
    const rows = await this.#store.list({ of: { authorId: accountId }, newestFirst: request.newestFirst, ...range, limit: request.limit + 1, ...start });
    const page = toPage(rows, request.limit, filters, createdAt);
    return { items: page.items.map((row) => postBy(row, author)), nextCursor: page.nextCursor };
  }

  /** A channel's posts, for whoever may see the channel. */
  async listInChannel(caller: Caller | null, channelId: string, request: ListPostsRequest): Promise<Page<Post>> {
    const range = parseBetween(request.between, request.tz);
    const filters = { channelId, ...this.#rangeFilters(range), newestFirst: request.newestFirst };
    const start = pageStart(request, filters, this.#settings.maxPage, byTime);
    await this.#channels.access(caller, channelId);
    const page = await this.#kept.channelPage({ channelId, ...request }, async () => {
      const read = await this.#store.list({ of: { channelId }, newestFirst: request.newestFirst, ...range, limit: request.limit + 1, ...start });
      return { read, page: toPage(read, request.limit, filters, createdAt) };
    });
    return { items: await this.#withAuthors(page.items), nextCursor: page.nextCursor };
  }

  /** Which post-related methods `caller` may use in a channel (it must be able to see it). */
  async channelPermissions(caller: Caller | null, channelId: string): Promise<{ post: boolean }> {
    const access = await this.#channels.access(caller, channelId);
    return { post: access.member };
  }

  /** Removes a closed account's posts, in channels too. */
  async forgetAuthor(accountId: string): Promise<void> {
    await this.#store.deleteByAuthor(accountId);
  }

  /** Removes the posts of deleted channels. */
  async forgetChannels(channelIds: string[]): Promise<void> {
    await this.#store.deleteByChannels(channelIds);
  }

  async #insert(caller: Caller, channelId: string | null, input: NewPost, unitOfWork: UnitOfWork | undefined): Promise<Post> {
    const text = checkText(input.text);
    const author = await this.#author(caller.accountId);
    // Its times are the database's, set by the insert (see PostsStore.insert).
    const post = { id: newId(), authorId: caller.accountId, channelId, text };
    // Whether the event concerns a consumer does not depend on its time, which the insert sets.
    const published = { postId: post.id, authorId: post.authorId, channelId, text, createdAt: '' };
    // The post and its event's jobs commit together: with the caller's unit of work when given.
    // A post whose event concerns no consumer (no mention, no channel) is one statement.
    let row: PostRow;
    if (!this.#events?.concerns('post.published', published)) {
      row = await this.#store.insert(post, unitOfWork);
    } else {
      row = await this.#store.unitOfWork(unitOfWork, async (uow) => {
        const inserted = await this.#store.insert(post, uow);
        await this.#events!.publish('post.published', { ...published, createdAt: inserted.createdAt.toISOString() }, uow);
        return inserted;
      });
    }
    // In the caller's unit of work, once it commits: a read in between would keep the old page.
    await whenCommitted(unitOfWork, () => this.#changed(row, 'published'));
    return postBy(row, author);
  }

  /**
   * Tells this instance's caches that a post was published, edited or deleted, once the write has
   * committed (in process; other instances hear it from PostgreSQL).
   */
  async #changed(row: PostRow, how: 'published' | 'changed' = 'changed'): Promise<void> {
    if (how === 'published') this.#kept.published(row);
    else this.#kept.forget(row.id);
    if (row.channelId === null) await this.#events?.emit('post.changed', { postId: row.id, authorId: row.authorId });
  }

  /** A write found the post at another version than its precondition's: see KeptPosts.forget. */
  #stale(postId: string, currentVersion: number): PreconditionFailed {
    this.#kept.forget(postId);
    return new PreconditionFailed(currentVersion);
  }

  #gone(postId: string): NotFound {
    this.#kept.forget(postId);
    return new NotFound('post');
  }

  /**
   * The post if `caller` may see it, with the caller's access to its channel for a channel post;
   * from memory when `kept` says a kept row will do (reads; a write reads the database).
   */
  async #visible(caller: Caller | null, postId: string, kept = false): Promise<{ row: PostRow; channel: ChannelAccess | null }> {
    const row = kept ? await this.#kept.post(postId, () => this.#store.find(postId)) : await this.#store.find(postId);
    if (!row) throw kept ? new NotFound('post') : this.#gone(postId);
    if (row.channelId === null) return { row, channel: null };
    try {
      return { row, channel: await this.#channels.access(caller, row.channelId) };
    } catch (error) {
      if (error instanceof NotFound) throw new NotFound('post');
      throw error;
    }
  }

  async #one(row: PostRow): Promise<Post> {
    const [post] = await this.#withAuthors([row]);
    if (!post) throw new NotFound('post');
    return post;
  }

  /** An account's summary, to show beside its posts; NotFound when it does not exist. */
  async #author(accountId: string): Promise<AccountSummary> {
    const author = (await this.#accounts.summaries([accountId])).get(accountId);
    if (!author) throw new NotFound('account');
    return author;
  }

  async #withAuthors(rows: PostRow[]): Promise<Post[]> {
    const ids = new Set<string>();
    for (const row of rows) ids.add(row.authorId);
    const authors = await this.#accounts.summaries(ids);
    const posts: Post[] = [];
    for (const row of rows) {
      const author = authors.get(row.authorId);
      if (author) posts.push(postBy(row, author));
    }
    return posts;
  }

  #rangeFilters(range: { from: Date; to: Date } | undefined) {
    return range ? { from: range.from.toISOString(), to: range.to.toISOString() } : {};
  }
}
