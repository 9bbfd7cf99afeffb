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
