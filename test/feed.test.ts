import t from 'tap';
import { unwrap, type AgoraClient } from 'agora-sdk';
import { v7 as uuidv7 } from 'uuid';
import { startAgora } from './helpers/agora.ts';

const agora = await startAgora(t);
const anonymous = agora.client();

async function befriend(a: { client: AgoraClient; account: { id: string } }, b: { client: AgoraClient; account: { id: string } }) {
  await unwrap(a.client.POST('/friend-requests', { body: { accountId: b.account.id } }));
  await unwrap(b.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: b.account.id, friendId: a.account.id } } }));
}

async function feedOf(client: AgoraClient, limit = 100) {
  return (await unwrap(client.GET('/feed', { params: { query: { limit } } }))).data.map((p) => p.text);
}

t.test('the feed follows friending and unfriending', async (t) => {
  const [ada, bob, cyd] = await Promise.all([agora.signUp(), agora.signUp(), agora.signUp()]);
  await unwrap(ada.client.POST('/posts', { body: { text: 'ada 1' } }));
  await unwrap(bob.client.POST('/posts', { body: { text: 'bob 1' } }));
  await unwrap(cyd.client.POST('/posts', { body: { text: 'cyd 1' } }));
  const room = await unwrap(bob.client.POST('/channels', { body: { name: 'room', visibility: 'public' } }));
  await unwrap(bob.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: room.id } }, body: { text: 'bob in a channel' } }));

  t.same(await feedOf(ada.client), ['ada 1'], 'alone: only your own posts');
  await befriend(ada, bob);
  await unwrap(ada.client.POST('/posts', { body: { text: 'ada 2' } }));
  t.same(await feedOf(ada.client), ['ada 2', 'bob 1', 'ada 1'], "a friend's posts join, newest first; channel posts never do");
  t.same(await feedOf(bob.client), ['ada 2', 'bob 1', 'ada 1'], 'mutual');
  t.same(await feedOf(cyd.client), ['cyd 1']);

  await unwrap(ada.client.DELETE('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: ada.account.id, friendId: bob.account.id } } }));
  t.same(await feedOf(ada.client), ['ada 2', 'ada 1'], 'unfriending removes them at once');
  t.same(await feedOf(bob.client), ['bob 1']);

  t.equal((await anonymous.GET('/feed')).response.status, 401);
  t.equal((await agora.raw('OPTIONS', '/v1/feed', { headers: { authorization: `Bearer ${ada.token}` } })).headers.get('allow'), 'GET, HEAD, OPTIONS');
});

t.test('the feed pages by cursor and by page number', async (t) => {
  const [reader, friend] = await Promise.all([agora.signUp(), agora.signUp()]);
  await befriend(reader, friend);
  for (let i = 0; i < 5; i++) {
    await unwrap(reader.client.POST('/posts', { body: { text: `r${i}` } }));
    await unwrap(friend.client.POST('/posts', { body: { text: `f${i}` } }));
  }
  const all = await feedOf(reader.client);
  t.same(all, ['f4', 'r4', 'f3', 'r3', 'f2', 'r2', 'f1', 'r1', 'f0', 'r0']);
  const walked: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await unwrap(reader.client.GET('/feed', { params: { query: { limit: 3, ...(cursor ? { cursor } : {}) } } }));
    walked.push(...page.data.map((p) => p.text));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  t.same(walked, all, 'cursor walk');
  const third = await unwrap(reader.client.GET('/feed', { params: { query: { limit: 3, page: 3 } } }));
  t.same(third.data.map((p) => p.text), all.slice(6, 9), 'page 3');

  const first = await unwrap(reader.client.GET('/feed', { params: { query: { limit: 3 } } }));
  const stolen = await friend.client.GET('/feed', { params: { query: { limit: 3, cursor: first.nextCursor! } } });
  t.equal(stolen.response.status, 400, "a cursor of someone else's feed is refused");
});

t.test("a closed account's posts leave every feed and list, even before clean-up", async (t) => {
  const [reader, leaver] = await Promise.all([agora.signUp(), agora.signUp()]);
  await befriend(reader, leaver);
  const post = await unwrap(leaver.client.POST('/posts', { body: { text: 'soon gone' } }));
  await unwrap(reader.client.POST('/posts', { body: { text: 'stays' } }));
  t.same(await feedOf(reader.client), ['stays', 'soon gone']);
  await unwrap(leaver.client.DELETE('/accounts/{accountId}', { params: { path: { accountId: leaver.account.id } } }));
  t.same(await feedOf(reader.client), ['stays']);
  t.equal((await anonymous.GET('/posts/{postId}', { params: { path: { postId: post.id } } })).response.status, 404);
  t.same(await agora.sql('select id from posts.post where author_id = $1', [leaver.account.id]), [], 'its posts are deleted');

  // Rows of an account that no longer exists, as a failed or lagging clean-up would leave them.
  const ghost = uuidv7();
  await agora.sql('insert into social.friendship (id, account_id, friend_id, created_at) values ($1, $2, $3, now()), ($4, $3, $2, now())', [uuidv7(), reader.account.id, ghost, uuidv7()]);
  const orphan = uuidv7();
  await agora.sql("insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version) values ($1, $2, null, 'orphan', now(), now(), 0)", [orphan, ghost]);
  t.same(await feedOf(reader.client), ['stays'], 'posts whose author is gone are hidden');
  t.equal((await anonymous.GET('/posts/{postId}', { params: { path: { postId: orphan } } })).response.status, 404);
  const friends = await unwrap(anonymous.GET('/accounts/{accountId}/friends', { params: { path: { accountId: reader.account.id } } }));
  t.same(friends.data, [], 'and so are friends that are gone');
});
