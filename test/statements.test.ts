// The cost of a page must not depend on its size: one feed page and one channel page issue a
// fixed number of SQL statements whatever `limit` is, because other domains are asked in
// batches (friends once, authors once), never once per post.
import t from 'tap';
import type { Test } from 'tap';
import { unwrap } from 'agora-sdk';
import { v7 as uuidv7 } from 'uuid';
import { startAgora } from './helpers/agora.ts';

const agora = await startAgora(t);
const reader = await agora.signUp();
const friends = await Promise.all([agora.signUp(), agora.signUp(), agora.signUp()]);
for (const friend of friends) {
  await unwrap(friend.client.POST('/friend-requests', { body: { accountId: reader.account.id } }));
  await unwrap(reader.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: reader.account.id, friendId: friend.account.id } } }));
}
const channel = await unwrap(reader.client.POST('/channels', { body: { name: 'busy', visibility: 'private' } }));
for (const friend of friends) {
  await unwrap(reader.client.PUT('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: channel.id, accountId: friend.account.id } } }));
}
const authors = [reader, ...friends].map((a) => a.account.id);
const start = Date.parse('2025-06-01T00:00:00Z');
for (let i = 0; i < 120; i++) {
  const at = new Date(start + i * 60_000).toISOString();
  await agora.sql(
    'insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version) values ($1, $2, $3, $4, $5, $5, 0)',
    [uuidv7({ msecs: Date.parse(at) }), authors[i % authors.length], i % 2 === 0 ? null : channel.id, `post ${i}`, at],
  );
}

async function count(t: Test, read: () => Promise<{ data: unknown[] }>, expectedItems: number) {
  const { result, statements } = await agora.statementsDuring(read);
  t.equal(result.data.length, expectedItems, `a full page of ${expectedItems}`);
  // A recorder that sees nothing would make every comparison below pass.
  t.ok(statements.some((s) => /from posts\.post|from channels\.membership/.test(s)), 'the page read was recorded');
  return statements;
}

t.test('a feed page costs the same number of statements at limit 5 and limit 50', async (t) => {
  const small = await count(t, () => unwrap(reader.client.GET('/feed', { params: { query: { limit: 5 } } })), 5);
  const large = await count(t, () => unwrap(reader.client.GET('/feed', { params: { query: { limit: 50 } } })), 50);
  t.equal(large.length, small.length, `${small.length} statements either way`);
  t.ok(small.length <= 6, `session, friends, posts, authors: ${small.join('\n')}`);
  const next = await unwrap(reader.client.GET('/feed', { params: { query: { limit: 5 } } }));
  const deeper = await count(t, () => unwrap(reader.client.GET('/feed', { params: { query: { limit: 5, cursor: next.nextCursor! } } })), 5);
  t.equal(deeper.length, small.length, 'and so does a later page');
});

t.test('a channel page costs the same number of statements at limit 5 and limit 50', async (t) => {
  const list = (limit: number) => () => unwrap(reader.client.GET('/channels/{channelId}/posts', { params: { path: { channelId: channel.id }, query: { limit } } }));
  const small = await count(t, list(5), 5);
  const large = await count(t, list(50), 50);
  t.equal(large.length, small.length, `${small.length} statements either way`);
  t.ok(small.length <= 6, `session, channel access, posts, authors: ${small.join('\n')}`);
});

t.test("an account's posts and a channel's members also cost a fixed number", async (t) => {
  const posts = (limit: number) => () => unwrap(reader.client.GET('/accounts/{accountId}/posts', { params: { path: { accountId: reader.account.id }, query: { limit } } }));
  const [fewPosts, manyPosts] = [await count(t, posts(2), 2), await count(t, posts(15), 15)];
  t.equal(fewPosts.length, manyPosts.length, `limit 2:\n${fewPosts.join('\n')}\nlimit 15:\n${manyPosts.join('\n')}`);
  const members = (limit: number) => () => unwrap(reader.client.GET('/channels/{channelId}/members', { params: { path: { channelId: channel.id }, query: { limit } } }));
  const [fewMembers, manyMembers] = [await count(t, members(1), 1), await count(t, members(4), 4)];
  t.equal(fewMembers.length, manyMembers.length, `limit 1:\n${fewMembers.join('\n')}\nlimit 4:\n${manyMembers.join('\n')}`);
});

t.test('a signed-in request looks its session up at most once a minute, not at every request', async (t) => {
  const who = await agora.signUp();
  const first = await agora.statementsDuring(() => unwrap(who.client.GET('/feed')));
  const again = await agora.statementsDuring(() => unwrap(who.client.GET('/feed')));
  const sessionStatements = (statements: string[]) => statements.filter((s) => /\baccounts"?\."?session\b/.test(s));
  t.ok(again.statements.some((s) => /\bsocial"?\."?friendship\b/.test(s)), 'the feed itself was read');
  t.same(sessionStatements(again.statements), [], 'no session statement: the session is cached');
  const firstCount = sessionStatements(first.statements).length;
  t.ok(firstCount >= 1 && firstCount <= 2, `the first request read the session (and recorded its use): ${firstCount} statement(s)`);
});

t.test('a post read is one statement once its author is cached, none once the post is kept too, and the author stays current', async (t) => {
  const author = await agora.signUp();
  const post = await unwrap(author.client.POST('/posts', { body: { text: 'cached author' } }));
  const read = (id = post.id) => agora.statementsDuring(() => agora.raw('GET', `/v1/posts/${id}`));
  await read();
  const { result, statements } = await read();
  t.equal(result.status, 200);
  t.same(statements, [], 'a post read again: no statement (POST_CACHE_MB)');
  t.equal(result.json.author.displayName, author.account.displayName);
  const other = await unwrap(author.client.POST('/posts', { body: { text: 'not read yet' } }));
  const first = await read(other.id);
  t.equal(first.result.status, 200);
  t.equal(first.statements.length, 1, `a post read for the first time: the post only: ${first.statements.join('\n')}`);
  t.match(first.statements[0], /posts"?\."?post\b/);

  await unwrap(author.client.PATCH('/accounts/{accountId}', {
    params: { path: { accountId: author.account.id }, header: { 'If-Match': '"0"' } },
    body: { displayName: 'Someone new' },
  }));
  t.equal((await agora.raw('GET', `/v1/posts/${post.id}`)).json.author.displayName, 'Someone new', 'a new name shows at once');
  await agora.sql('update accounts.account set display_name = $2 where id = $1', [author.account.id, 'Changed by hand']);
  t.equal((await agora.raw('GET', `/v1/posts/${post.id}`)).json.author.displayName, 'Changed by hand', 'so does a change made in the database');
});

t.test("an anonymous channel page reads the channel from the cache, the page is kept, and the channel's changes show at once", async (t) => {
  const owner = await agora.signUp();
  const open = await unwrap(owner.client.POST('/channels', { body: { name: 'open', visibility: 'public' } }));
  await unwrap(owner.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: open.id } }, body: { text: 'in the open' } }));
  const read = (query = '') => agora.statementsDuring(() => agora.raw('GET', `/v1/channels/${open.id}/posts${query}`));
  await read();
  const { result, statements } = await read('?limit=5');
  t.equal(result.status, 200);
  t.equal(result.json.data.length, 1);
  t.equal(statements.length, 1, `a page not read before: the posts only, no channel lookup: ${statements.join('\n')}`);
  t.match(statements[0], /posts/);
  const again = await read('?limit=5');
  t.equal(again.result.status, 200);
  t.same(again.statements, [], 'read again: no statement (CHANNEL_PAGE_CACHE_MB)');
  t.equal((await agora.raw('GET', `/v1/channels/${open.id}`)).json.name, 'open', 'the channel itself, from the cache');

  await unwrap(owner.client.PATCH('/channels/{channelId}', {
    params: { path: { channelId: open.id }, header: { 'If-Match': '"0"' } },
    body: { name: 'renamed' },
  }));
  const renamed = await agora.raw('GET', `/v1/channels/${open.id}`);
  t.equal(renamed.json.name, 'renamed', 'a change through the API shows at once');
  t.equal(renamed.headers.get('etag'), '"1"', 'with its new version');

  await unwrap(owner.client.PATCH('/channels/{channelId}', {
    params: { path: { channelId: open.id }, header: { 'If-Match': '"1"' } },
    body: { visibility: 'private' },
  }));
  t.equal((await agora.raw('GET', `/v1/channels/${open.id}/posts`)).status, 404, 'made private: hidden from anonymous readers at once');
  t.equal((await agora.raw('GET', `/v1/channels/${open.id}`)).status, 404);

  await agora.sql("update channels.channel set visibility = 'public' where id = $1", [open.id]);
  t.equal((await agora.raw('GET', `/v1/channels/${open.id}/posts`)).status, 200, 'made public again in the database: visible');
  await agora.raw('GET', `/v1/channels/${open.id}/posts`);
  await agora.sql("update channels.channel set visibility = 'private' where id = $1", [open.id]);
  t.equal((await agora.raw('GET', `/v1/channels/${open.id}/posts`)).status, 404, 'made private in the database: hidden at once');

  const doomed = await unwrap(owner.client.POST('/channels', { body: { name: 'doomed', visibility: 'public' } }));
  t.equal((await agora.raw('GET', `/v1/channels/${doomed.id}/posts`)).status, 200);
  await agora.sql('delete from channels.channel where id = $1', [doomed.id]);
  t.equal((await agora.raw('GET', `/v1/channels/${doomed.id}/posts`)).status, 404, 'deleted in the database: gone at once');

  const closing = await agora.signUp();
  const orphan = await unwrap(closing.client.POST('/channels', { body: { name: 'orphan', visibility: 'public' } }));
  t.equal((await agora.raw('GET', `/v1/channels/${orphan.id}`)).status, 200);
  t.equal((await closing.client.DELETE('/accounts/{accountId}', { params: { path: { accountId: closing.account.id } } })).response.status, 204);
  t.equal((await agora.raw('GET', `/v1/channels/${orphan.id}`)).status, 404, "its owner's account closed: gone at once");
});

// Writes, in round trips to PostgreSQL (a BEGIN sent with the transaction's first statement is
// one, and so is a COMMIT sent with its last): the bare baseline (bench/baseline) creates a post
// in one statement and a keyed one in three (replay lookup, write, record), besides its session
// lookup, which Agora caches. Agora's keyed create is two: its claim goes with the write.
t.test('a create is one round trip, a keyed create two (claim and write, record), a replay two (then none), an edit one', async (t) => {
  const author = await agora.signUp();
  const headers = (key?: string) => ({
    authorization: `Bearer ${author.token}`,
    'content-type': 'application/json',
    ...(key === undefined ? {} : { 'idempotency-key': key }),
  });
  const create = (text: string, key?: string) => agora.raw('POST', '/v1/posts', { headers: headers(key), body: JSON.stringify({ text }) });
  await create('warm the caches');

  const unkeyed = await agora.statementsDuring(() => create('no key'));
  t.equal(unkeyed.result.status, 201);
  t.equal(unkeyed.statements.length, 1, `the insert only: ${unkeyed.statements.join('\n')}`);
  t.match(unkeyed.statements[0], /insert into posts\.post/);

  const key = `statements-${uuidv7()}`;
  const keyed = await agora.statementsDuring(() => create('with a key', key));
  t.equal(keyed.result.status, 201);
  t.equal(keyed.statements.length, 2, `claim and write (with BEGIN), record (with COMMIT): ${keyed.statements.join('\n')}`);
  t.match(keyed.statements[0], /^begin;\nselect idempotency\.claim\([^;]*\);\ninsert into posts\.post/);
  t.match(keyed.statements[1], /^insert into idempotency\.record[\s\S]*;\s*commit$/);
  t.equal((await agora.sql('select count(*)::int as n from posts.post where text = $1', ['with a key']))[0]!.n, 1, 'the post was written');
  t.equal((await agora.sql('select count(*)::int as n from idempotency.record where key = $1', [key]))[0]!.n, 1, 'with its record');

  const replay = await agora.statementsDuring(() => create('with a key', key));
  t.equal(replay.result.status, 201);
  t.equal(replay.result.headers.get('idempotent-replayed'), 'true');
  t.same(replay.result.json, keyed.result.json, 'the first answer again');
  t.equal(replay.statements.length, 2, `the claim, refused by the record (its write not run), then its ROLLBACK with the record read: ${replay.statements.join('\n')}`);
  t.match(replay.statements[0], /^begin;\nselect idempotency\.claim\([^;]*\);\ninsert into posts\.post/);
  t.match(replay.statements[1], /^rollback;\nselect [^;]* from idempotency\.record where/);
  t.equal((await agora.sql('select count(*)::int as n from posts.post where text = $1', ['with a key']))[0]!.n, 1, 'the write sent with the refused claim did not run');
  const again = await agora.statementsDuring(() => create('with a key', key));
  t.equal(again.result.headers.get('idempotent-replayed'), 'true');
  t.equal(again.result.text, replay.result.text, 'the same bytes');
  t.same(again.statements, [], 'a record this instance has replayed is replayed from memory: no round trip');
  const misuse = await agora.statementsDuring(() => create('another text', key));
  t.equal(misuse.result.status, 422, 'a reuse of the key is still refused');
  t.same(misuse.statements, [], 'from memory too');
  t.equal((await agora.sql('select count(*)::int as n from posts.post where text = $1', ['with a key']))[0]!.n, 1, 'and nothing written twice');

  const post = keyed.result.json as { id: string };
  const edit = await agora.statementsDuring(() =>
    agora.raw('PATCH', `/v1/posts/${post.id}`, {
      headers: { authorization: `Bearer ${author.token}`, 'content-type': 'application/merge-patch+json', 'if-match': '"0"' },
      body: JSON.stringify({ text: 'edited' }),
    }),
  );
  t.equal(edit.result.status, 200);
  t.equal(edit.result.json.text, 'edited');
  t.equal(edit.result.headers.get('etag'), '"1"');
  t.equal(edit.statements.length, 1, `the conditional update only: ${edit.statements.join('\n')}`);
  t.match(edit.statements[0], /^update posts\.post/);
});

t.test('a page of messages is one statement, participants and page together; a keyed send writes with its claim in one round trip', async (t) => {
  const [ada, bob] = [reader, friends[0]!];
  const conversation = await unwrap(ada.client.POST('/conversations', { body: { participantIds: [bob.account.id] } }));
  const send = (text: string, key: string, conversationId = conversation.id) =>
    agora.raw('POST', `/v1/conversations/${conversationId}/messages`, {
      headers: { authorization: `Bearer ${ada.token}`, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ text }),
    });
  // The first send reads the conversation's participants and the one friendship it needs; both
  // are kept in memory for the next ones.
  const first = await agora.statementsDuring(() => send('warm the caches', `statements-${uuidv7()}`));
  t.equal(first.result.status, 201);
  const firstList = first.statements.join('\n');
  t.equal(first.statements.filter((s) => /^select account_id, closed_at is not null as closed from messages\.participant/.test(s)).length, 1, `one read of the participants: ${firstList}`);
  const friendships = first.statements.filter((s) => /from social\.friendship/.test(s));
  t.equal(friendships.length, 1, `one look at the friendship: ${firstList}`);
  t.match(friendships[0], /where account_id = \$1 and friend_id = \$2/, "the one friendship, not the sender's every friend");

  const keyed = await agora.statementsDuring(() => send('with a key', `statements-${uuidv7()}`));
  t.equal(keyed.result.status, 201);
  const list = keyed.statements.join('\n');
  const claim = keyed.statements.findIndex((s) => /^begin;\nselect idempotency\.claim\(/.test(s));
  t.equal(claim, 0, `the claim first: ${list}`);
  t.ok(claim >= 0, `the claim goes with BEGIN: ${list}`);
  t.match(keyed.statements[claim], /insert into messages\.message[\s\S]*update messages\.conversation[\s\S]*select account_id from messages\.participant/, 'and the message, its conversation and its participants with them');
  // A notifying transaction commits only after every other one that notifies: the wake-up of the
  // participants' live streams goes after the commit, on the invalidation listener's connection,
  // not the pool's (notices.ts; test/wake-after-commit.test.ts hears it).
  t.notOk(keyed.statements.some((s) => /pg_notify/.test(s)), `no notification from the transaction, nor from the pool: ${list}`);
  t.notOk(keyed.statements.some((s) => /^update messages\.conversation/.test(s.trim())), `no statement of their own: ${list}`);
  t.match(keyed.statements.at(-1), /^insert into idempotency\.record[\s\S]*;\s*commit$/, 'the record goes with COMMIT');
  t.equal(keyed.statements.length, 2, `the transaction in two round trips, no lookup before it; the participants and the friendship from memory: ${list}`);
  const stored = await agora.sql('select count(*)::int as n from messages.message where conversation_id = $1 and text = $2', [conversation.id, 'with a key']);
  t.equal(stored[0]!.n, 1, 'the message was written');
  const [activity] = await agora.sql('select last_activity_at from messages.conversation where id = $1', [conversation.id]);
  t.equal((activity!.last_activity_at as Date).toISOString(), (keyed.result.json as { createdAt: string }).createdAt, "and the conversation's latest activity moved to it");

  const page = await agora.statementsDuring(() =>
    agora.raw('GET', `/v1/conversations/${conversation.id}/messages?limit=1`, { headers: { authorization: `Bearer ${bob.token}` } }),
  );
  t.equal(page.result.status, 200);
  t.same(
    (page.result.json as { data: { text: string }[] }).data.map((m) => m.text),
    ['with a key'],
    'the newest message',
  );
  t.equal(page.statements.length, 1, `one statement: ${page.statements.join('\n')}`);
  t.match(page.statements[0], /from messages\.participant[\s\S]*from messages\.message/);

  const stranger = await agora.signUp();
  const asStranger = () => agora.raw('GET', `/v1/conversations/${conversation.id}/messages`, { headers: { authorization: `Bearer ${stranger.token}` } });
  await asStranger(); // its session is looked up once
  const refused = await agora.statementsDuring(asStranger);
  t.equal(refused.result.status, 404, 'a stranger is still told there is no such conversation');
  t.equal(refused.statements.length, 1, `in one statement too: ${refused.statements.join('\n')}`);
});
