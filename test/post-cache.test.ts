// Posts kept in memory (src/services/posts/posts-service.ts, POST_CACHE_MB): a post read again
// by id is served with no statement, and never once it changed: at once for this instance's own
// edits and deletions, and, for changes made elsewhere (another instance, or by hand: here SQL
// straight into the database, which only PostgreSQL's notifications can tell the server about),
// as soon as the notification is in (`agora.sql` waits for it, as a user would be a moment later).
// Only the row is kept: who may see a channel post, and whether its author still exists, are
// asked at every read.
import t from 'tap';
import { ifMatch, unwrap } from 'agora-sdk';
import { startAgora } from './helpers/agora.ts';

const agora = await startAgora(t);

type Member = Awaited<ReturnType<typeof agora.signUp>>;

async function lookups(outcome: 'hit' | 'miss'): Promise<number> {
  const samples = (await agora.scrape()).samples;
  return samples.find((s) => s.name === 'agora_cache_lookups_total' && s.labels.cache === 'posts' && s.labels.outcome === outcome)?.value ?? 0;
}

const readsPosts = (statements: string[]) => statements.some((s) => s.includes('posts.post'));

async function get(member: Member | null, postId: string) {
  return (member ? member.client : agora.client()).GET('/posts/{postId}', { params: { path: { postId } } });
}

/** A post, read once (so kept), by its author. */
async function keptPost(author: Member, text: string) {
  const post = await unwrap(author.client.POST('/posts', { body: { text } }));
  await unwrap(get(author, post.id));
  return post;
}

t.test('a post read again is served from memory, with no statement, and is the same answer', async (t) => {
  const author = await agora.signUp();
  const post = await unwrap(author.client.POST('/posts', { body: { text: 'kept' } }));
  const missesBefore = await lookups('miss');
  const { statements: first } = await agora.statementsDuring(() => get(null, post.id));
  t.ok(readsPosts(first), 'the first read reads the post');
  t.equal((await lookups('miss')) - missesBefore, 1, 'one miss');

  const hitsBefore = await lookups('hit');
  const { result, statements } = await agora.statementsDuring(() => get(null, post.id));
  t.equal(result.response.status, 200);
  t.same(result.data, post, 'the same post, author included');
  t.equal(result.response.headers.get('etag'), ifMatch(post.version));
  t.notOk(readsPosts(statements), `no statement reads the posts: ${statements.join(' | ')}`);
  t.equal((await lookups('hit')) - hitsBefore, 1, 'one hit');

  // Version 2 reads the same kept row.
  const { result: v2, statements: v2Statements } = await agora.statementsDuring(() => agora.raw('GET', `/v2/posts/${post.id}`));
  t.equal(v2.status, 200);
  t.equal((v2.json as { text: string }).text, 'kept');
  t.notOk(readsPosts(v2Statements), 'v2: no statement reads the posts');

  // A post that does not exist is not kept: it is read again every time.
  const missing = '0190a5a0-0000-7000-8000-000000000000';
  t.equal((await get(null, missing)).response.status, 404);
  const { result: again, statements: missingStatements } = await agora.statementsDuring(() => get(null, missing));
  t.equal(again.response.status, 404);
  t.ok(readsPosts(missingStatements), 'a missing post is looked for again');
});

t.test("this instance's own edits and deletions show at once", async (t) => {
  const author = await agora.signUp();
  const post = await keptPost(author, 'before');
  const edited = await unwrap(author.client.PATCH('/posts/{postId}', { params: { path: { postId: post.id }, header: { 'If-Match': ifMatch(post.version) } }, body: { text: 'after' } }));
  const read = await get(null, post.id);
  t.equal(read.data?.text, 'after', 'the edit');
  t.equal(read.response.headers.get('etag'), ifMatch(edited.version), 'the new version');
  t.equal(read.data?.version, post.version + 1);

  await unwrap(author.client.DELETE('/posts/{postId}', { params: { path: { postId: post.id }, header: { 'If-Match': ifMatch(edited.version) } } }));
  t.equal((await get(null, post.id)).response.status, 404, 'the deletion');
  t.equal((await get(author, post.id)).response.status, 404, 'for its author too');
});

t.test('changes made elsewhere show once their notification is in', async (t) => {
  const author = await agora.signUp();
  const [a, b] = [await keptPost(author, 'a'), await keptPost(author, 'b')];
  await agora.sql("update posts.post set text = 'a, by hand', version = version + 1 where id = $1", [a.id]);
  const read = await get(null, a.id);
  t.equal(read.data?.text, 'a, by hand');
  t.equal(read.response.headers.get('etag'), ifMatch(a.version + 1));
  await agora.sql('delete from posts.post where id = $1', [b.id]);
  t.equal((await get(null, b.id)).response.status, 404);
});

t.test('an edit checks its precondition against the database, not the kept copy', async (t) => {
  const author = await agora.signUp();
  const post = await keptPost(author, 'mine');
  // A change that notifies nobody (the triggers off for its transaction): the kept copy is stale.
  await agora.sql(
    `begin; set local session_replication_role = replica;
     update posts.post set text = 'changed unannounced', version = version + 1 where id = '${post.id}'; commit`,
  );
  t.equal((await get(null, post.id)).data?.text, 'mine', 'the kept copy is served (no notification came)');
  const stale = await author.client.PATCH('/posts/{postId}', { params: { path: { postId: post.id }, header: { 'If-Match': ifMatch(post.version) } }, body: { text: 'mine, again' } });
  t.equal(stale.response.status, 412, 'the version the client saw is stale');
  t.equal(stale.response.headers.get('etag'), ifMatch(post.version + 1), 'the current version, from the database');
  const read = await get(null, post.id);
  t.equal(read.data?.text, 'changed unannounced', 'a refused edit drops the stale copy');
  t.equal(read.response.headers.get('etag'), ifMatch(post.version + 1));

  const again = await keptPost(author, 'mine too');
  await agora.sql(
    `begin; set local session_replication_role = replica;
     update posts.post set version = version + 1 where id = '${again.id}'; commit`,
  );
  const empty = await author.client.PATCH('/posts/{postId}', { params: { path: { postId: again.id }, header: { 'If-Match': ifMatch(again.version) } }, body: {} });
  t.equal(empty.response.status, 412, 'an empty patch too');
  const deletion = await author.client.DELETE('/posts/{postId}', { params: { path: { postId: again.id }, header: { 'If-Match': ifMatch(again.version) } } });
  t.equal(deletion.response.status, 412, 'and a deletion');
  t.equal((await get(null, again.id)).response.headers.get('etag'), ifMatch(again.version + 1));
  await agora.sql(`begin; set local session_replication_role = replica; delete from posts.post where id = '${again.id}'; commit`);
  t.equal((await author.client.DELETE('/posts/{postId}', { params: { path: { postId: again.id } } })).response.status, 404, 'deleted unannounced');
  t.equal((await get(null, again.id)).response.status, 404, 'a refused deletion drops the stale copy');
});

t.test("a kept channel post is still shown only to those who may see its channel", async (t) => {
  const [owner, stranger] = await Promise.all([agora.signUp(), agora.signUp()]);
  const channel = await unwrap(owner.client.POST('/channels', { body: { name: 'hidden room', visibility: 'private' } }));
  const post = await unwrap(owner.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: channel.id } }, body: { text: 'inside' } }));
  await unwrap(get(owner, post.id));
  const { result, statements } = await agora.statementsDuring(() => get(owner, post.id));
  t.equal(result.response.status, 200);
  t.notOk(readsPosts(statements), 'kept');
  t.equal((await get(stranger, post.id)).response.status, 404, 'a stranger');
  t.equal((await get(null, post.id)).response.status, 404, 'anonymous');

  // The channel made public: the kept post is shown to everyone.
  await unwrap(owner.client.PATCH('/channels/{channelId}', { params: { path: { channelId: channel.id }, header: { 'If-Match': ifMatch(channel.version) } }, body: { visibility: 'public' } }));
  t.equal((await get(stranger, post.id)).response.status, 200, 'public now');

  // A channel post's deletion by its channel's owner evicts it like any other.
  await unwrap(owner.client.DELETE('/posts/{postId}', { params: { path: { postId: post.id } } }));
  t.equal((await get(stranger, post.id)).response.status, 404);
});

t.test("a closed author's kept posts are gone at once", async (t) => {
  const author = await agora.signUp();
  const post = await keptPost(author, 'soon gone');
  await unwrap(author.client.DELETE('/accounts/{accountId}', { params: { path: { accountId: author.account.id } } }));
  t.equal((await get(null, post.id)).response.status, 404);
});

t.test('emptying the table empties the cache', async (t) => {
  const author = await agora.signUp();
  const post = await keptPost(author, 'truncated');
  await agora.sql('truncate posts.post');
  t.equal((await get(null, post.id)).response.status, 404);
});

// Channel pages (CHANNEL_PAGE_CACHE_MB).

async function pageLookups(outcome: 'hit' | 'miss'): Promise<number> {
  const samples = (await agora.scrape()).samples;
  return samples.find((s) => s.name === 'agora_cache_lookups_total' && s.labels.cache === 'channel_pages' && s.labels.outcome === outcome)?.value ?? 0;
}

async function channelWith(owner: Member, visibility: 'public' | 'private', ...texts: string[]) {
  const channel = await unwrap(owner.client.POST('/channels', { body: { name: `${visibility} room`, visibility } }));
  const posts = [];
  for (const text of texts) posts.push(await unwrap(owner.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: channel.id } }, body: { text } })));
  // Each post's announcement ("oc:<channel>") reaches the server a moment after its answer, and
  // evicts the channel's pages again: a page kept before it came would be read again, which the
  // tests below would take for a page not kept.
  await agora.notified();
  return { channel, posts };
}

const channelPage = (member: Member | null, channelId: string, query: { limit?: number; cursor?: string; page?: number } = {}) =>
  (member ? member.client : agora.client()).GET('/channels/{channelId}/posts', { params: { path: { channelId }, query } });

const pageTexts = async (member: Member | null, channelId: string, query: { limit?: number; cursor?: string } = {}) =>
  (await unwrap(channelPage(member, channelId, query))).data.map((p) => p.text);

t.test('a channel page read again is served from memory, with no statement, and is the same page, cursor included', async (t) => {
  const owner = await agora.signUp();
  const { channel } = await channelWith(owner, 'public', 'one', 'two', 'three');
  const first = await unwrap(channelPage(null, channel.id, { limit: 2 }));
  t.same(first.data.map((p) => p.text), ['three', 'two']);
  t.ok(first.nextCursor);
  const hits = await pageLookups('hit');
  const { result, statements } = await agora.statementsDuring(() => unwrap(channelPage(null, channel.id, { limit: 2 })));
  t.same(result, first, 'the same page and the same cursor');
  t.notOk(readsPosts(statements), `no statement reads the posts: ${statements.join(' | ')}`);
  t.equal((await pageLookups('hit')) - hits, 1, 'one hit');

  // The next page by cursor is kept too; a page by number is not.
  const next = await unwrap(channelPage(null, channel.id, { limit: 2, cursor: first.nextCursor! }));
  t.same(next.data.map((p) => p.text), ['one']);
  t.equal(next.nextCursor, null);
  const { statements: nextStatements } = await agora.statementsDuring(() => unwrap(channelPage(null, channel.id, { limit: 2, cursor: first.nextCursor! })));
  t.notOk(readsPosts(nextStatements), 'the cursor page, kept');
  await unwrap(channelPage(null, channel.id, { limit: 2, page: 2 }));
  const { result: numbered, statements: numberedStatements } = await agora.statementsDuring(() => unwrap(channelPage(null, channel.id, { limit: 2, page: 2 })));
  t.same(numbered.data.map((p) => p.text), ['one']);
  t.ok(readsPosts(numberedStatements), 'a page by number is read every time');
  // Another size is another page.
  const { statements: other } = await agora.statementsDuring(() => unwrap(channelPage(null, channel.id, { limit: 1 })));
  t.ok(readsPosts(other), 'a page of another size is read');
});

t.test("this instance's own new posts, edits and deletions show at once on every page", async (t) => {
  const owner = await agora.signUp();
  const { channel, posts } = await channelWith(owner, 'public', 'one', 'two', 'three');
  const first = await unwrap(channelPage(null, channel.id, { limit: 2 }));
  await pageTexts(null, channel.id, { limit: 2, cursor: first.nextCursor! });

  await unwrap(owner.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: channel.id } }, body: { text: 'four' } }));
  t.same(await pageTexts(null, channel.id, { limit: 2 }), ['four', 'three'], 'a new post (keyed, as the SDK sends it)');
  const before = await unwrap(channelPage(null, channel.id, { limit: 2 }));
  t.same(await pageTexts(null, channel.id, { limit: 2, cursor: before.nextCursor! }), ['two', 'one']);

  await unwrap(owner.client.PATCH('/posts/{postId}', { params: { path: { postId: posts[0]!.id }, header: { 'If-Match': ifMatch(posts[0]!.version) } }, body: { text: 'one, edited' } }));
  t.same(await pageTexts(null, channel.id, { limit: 2, cursor: before.nextCursor! }), ['two', 'one, edited'], 'an edit');
  await unwrap(owner.client.DELETE('/posts/{postId}', { params: { path: { postId: posts[1]!.id } } }));
  t.same(await pageTexts(null, channel.id, { limit: 2, cursor: before.nextCursor! }), ['one, edited'], 'a deletion');
  t.same(await pageTexts(null, channel.id, { limit: 10 }), ['four', 'three', 'one, edited']);
});

t.test('changes made elsewhere show once their notification is in', async (t) => {
  const owner = await agora.signUp();
  const { channel, posts } = await channelWith(owner, 'public', 'one', 'two');
  const { channel: other } = await channelWith(owner, 'public', 'elsewhere');
  t.same(await pageTexts(null, channel.id), ['two', 'one']);
  t.same(await pageTexts(null, other.id), ['elsewhere']);

  await agora.sql("update posts.post set text = 'two, by hand' where id = $1", [posts[1]!.id]);
  t.same(await pageTexts(null, channel.id), ['two, by hand', 'one'], 'an edit');
  await agora.sql(
    `insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version)
     values (gen_random_uuid(), $1, $2, 'inserted by hand', now(), now(), 0)`,
    [owner.account.id, channel.id],
  );
  t.same(await pageTexts(null, channel.id), ['inserted by hand', 'two, by hand', 'one'], 'a new post');
  await agora.sql('update posts.post set channel_id = $2 where id = $1', [posts[0]!.id, other.id]);
  t.same(await pageTexts(null, channel.id), ['inserted by hand', 'two, by hand'], 'a post moved out');
  t.same(await pageTexts(null, other.id), ['elsewhere', 'one'], 'and into another channel');
  await agora.sql("update posts.post set created_at = now() + interval '1 minute' where id = $1", [posts[0]!.id]);
  t.same(await pageTexts(null, other.id), ['one', 'elsewhere'], 'a post given another time');
  await agora.sql('delete from posts.post where channel_id = $1', [channel.id]);
  t.same(await pageTexts(null, channel.id), [], 'deletions');
});

t.test("a kept channel page is still shown only to those who may see the channel", async (t) => {
  const [owner, stranger] = await Promise.all([agora.signUp(), agora.signUp()]);
  const { channel } = await channelWith(owner, 'private', 'secret');
  t.same(await pageTexts(owner, channel.id), ['secret']);
  const { statements } = await agora.statementsDuring(() => pageTexts(owner, channel.id));
  t.notOk(readsPosts(statements), 'kept');
  t.equal((await channelPage(stranger, channel.id)).response.status, 404, 'a stranger');
  t.equal((await channelPage(null, channel.id)).response.status, 404, 'anonymous');
});

t.test("a kept channel page leaves out a closed author's posts at once", async (t) => {
  const [owner, member] = await Promise.all([agora.signUp(), agora.signUp()]);
  const { channel } = await channelWith(owner, 'public', 'by the owner');
  await unwrap(owner.client.PUT('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: channel.id, accountId: member.account.id } } }));
  await unwrap(member.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: channel.id } }, body: { text: 'by the member' } }));
  t.same(await pageTexts(null, channel.id), ['by the member', 'by the owner']);
  await unwrap(member.client.DELETE('/accounts/{accountId}', { params: { path: { accountId: member.account.id } } }));
  t.same(await pageTexts(null, channel.id), ['by the owner']);
});
