// Notifications through HTTP: made once per cause by the durable consumers of other domains'
// events (jobs of the `events.notifications` queue, enqueued in the writer's transaction), never
// for one's own action nor about what the recipient cannot see; listed, filtered, paged, grouped,
// marked read and dismissed by their recipient only.
import pg from 'pg';
import t from 'tap';
import { unwrap } from 'agora-sdk';
import { startAgora } from './helpers/agora.ts';
import { clientUow, domainEventsSettled } from './helpers/jobs.ts';

// With its job queue and a worker: notifications arrive asynchronously, a job after the write.
// The worker runs no timelines fan-out passes (feeds are not read here), so that the statements a
// test records are the request's and its jobs' only (a pass's statements in that window failed
// a test, seen with passes every 10 ms).
const agora = await startAgora(t, {}, { jobs: true, jobTuning: { pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1, timedFanOut: false } });

const settled = () => domainEventsSettled((text) => agora.sql(text));

type Person = Awaited<ReturnType<typeof agora.signUp>>;
const list = async (who: Person, query: Record<string, unknown> = {}) => {
  await settled();
  return (await unwrap(who.client.GET('/notifications', { params: { query: { limit: 100, ...query } } }))).data;
};
const befriend = async (a: Person, b: Person) => {
  await unwrap(a.client.POST('/friend-requests', { body: { accountId: b.account.id } }));
  await unwrap(b.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: b.account.id, friendId: a.account.id } } }));
};

t.test('a friend request notifies its recipient once, its acceptance the sender, and nobody for their own action', async (t) => {
  const [ada, bob] = await Promise.all([agora.signUp(), agora.signUp()]);
  const request = await unwrap(ada.client.POST('/friend-requests', { body: { accountId: bob.account.id } }));
  const received = await list(bob);
  t.equal(received.length, 1);
  t.match(received[0], { type: 'friendRequestReceived', friendRequestId: request.id, postId: null, channelId: null, conversationId: null });
  t.same(received[0]!.actor, { id: ada.account.id, handle: ada.account.handle, displayName: ada.account.displayName });
  t.same(await list(ada), [], 'the sender is not told of its own request');

  await unwrap(bob.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: bob.account.id, friendId: ada.account.id } } }));
  await unwrap(bob.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: bob.account.id, friendId: ada.account.id } } }));
  const accepted = await list(ada);
  t.equal(accepted.length, 1, 'accepting again (idempotent) notifies nobody again');
  t.match(accepted[0], { type: 'friendRequestAccepted', actor: { id: bob.account.id } });
  t.equal((await list(bob)).length, 1, 'the one who accepted is not told');
});

t.test('consumers are idempotent by their source: run twice, one notification', async (t) => {
  const [ada, bob] = await Promise.all([agora.signUp(), agora.signUp()]);
  const { notifications } = agora.services;
  const event = { requestId: '01939a1c-0000-7000-8000-000000000001', senderId: ada.account.id, recipientId: bob.account.id };
  await notifications.onFriendRequestReceived(event);
  await notifications.onFriendRequestReceived(event);
  const post = await unwrap(ada.client.POST('/posts', { body: { text: `hello @${bob.account.handle}` } }));
  await settled();
  const published = { postId: post.id, authorId: ada.account.id, channelId: null, text: post.text, createdAt: post.createdAt };
  await notifications.onPostPublished(published);
  const message = { conversationId: '01939a1c-0000-7000-8000-0000000000c1', messageId: '01939a1c-0000-7000-8000-0000000000a1', authorId: ada.account.id, recipientIds: [bob.account.id, ada.account.id] };
  await notifications.onMessageSent(message);
  await notifications.onMessageSent(message);
  t.same((await list(bob)).map((n) => n.type).toSorted(), ['friendRequestReceived', 'mention', 'messageReceived']);
  t.same(await list(ada), [], 'the author of the message is not told');
});

t.test('a conversation notifies once while unread, and again once that was read', async (t) => {
  const [ada, bob] = await Promise.all([agora.signUp(), agora.signUp()]);
  const { notifications } = agora.services;
  const conversationId = '01939a1c-0000-7000-8000-0000000000c2';
  const send = (n: number, readingIds?: string[]) =>
    notifications.onMessageSent({ conversationId, messageId: `01939a1c-0000-7000-8000-00000000010${n}`, authorId: ada.account.id, recipientIds: [bob.account.id], readingIds });
  await send(1, [bob.account.id]);
  t.same(await list(bob), [], 'nothing while reading the conversation');
  await send(2);
  await send(3);
  const unread = await list(bob);
  t.equal(unread.length, 1, 'one notification for an unread conversation');
  t.equal(unread[0]!.conversationId, conversationId);
  await unwrap(bob.client.PUT('/notifications/marker', { params: { header: { 'If-Match': '"0"' } }, body: { lastReadId: unread[0]!.id } }));
  await send(4);
  t.equal((await list(bob)).length, 2, 'a new message after it was read notifies again');
});

t.test('posts: channel members hear of new posts, mentions reach only those who can see the post', async (t) => {
  const [owner, member, outsider, lurker] = await Promise.all([agora.signUp(), agora.signUp(), agora.signUp(), agora.signUp()]);
  const secret = await unwrap(owner.client.POST('/channels', { body: { name: 'secret', visibility: 'private' } }));
  await unwrap(owner.client.PUT('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: secret.id, accountId: member.account.id } } }));
  const text = `hi @${member.account.handle} and @${outsider.account.handle.toUpperCase()}, and @${owner.account.handle}`;
  const post = await unwrap(owner.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: secret.id } }, body: { text } }));
  const heard = await list(member);
  t.equal(heard.length, 1, 'a mentioned member gets the mention, not the new post too');
  t.match(heard[0], { type: 'mention', postId: post.id, channelId: secret.id });
  t.same(await list(outsider), [], 'a mention in a private channel does not reach a non-member');
  t.same(await list(owner), [], 'mentioning yourself, or posting, notifies nobody of their own action');

  await unwrap(member.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: secret.id } }, body: { text: 'plain' } }));
  const ownerHeard = await list(owner);
  t.equal(ownerHeard.length, 1);
  t.match(ownerHeard[0], { type: 'channelPost', channelId: secret.id, actor: { id: member.account.id } });

  const open = await unwrap(owner.client.POST('/channels', { body: { name: 'open', visibility: 'public' } }));
  await unwrap(owner.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: open.id } }, body: { text: `@${outsider.account.handle} look` } }));
  const general = await unwrap(lurker.client.POST('/posts', { body: { text: `dear @${outsider.account.handle}, email me@${outsider.account.handle}.example` } }));
  const mentions = await list(outsider);
  t.same(mentions.map((n) => [n.type, n.postId === general.id]), [['mention', true], ['mention', false]], 'a public channel post and a general post are visible: mentioned; an email address is no mention');
  t.same(await list(lurker), [], 'not a member of the channel: no channel posts');
});

t.test('types filter, cursor pages, groups', async (t) => {
  const [me, a, b] = await Promise.all([agora.signUp(), agora.signUp(), agora.signUp()]);
  const channel = await unwrap(me.client.POST('/channels', { body: { name: 'busy', visibility: 'public' } }));
  for (const who of [a, b]) await unwrap(who.client.PUT('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: channel.id, accountId: who.account.id } } }));
  for (const who of [a, b, a]) await unwrap(who.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: channel.id } }, body: { text: 'news' } }));
  await unwrap(a.client.POST('/friend-requests', { body: { accountId: me.account.id } }));
  await unwrap(b.client.POST('/posts', { body: { text: `@${me.account.handle}!` } }));

  const all = await list(me);
  t.same(all.map((n) => n.type), ['mention', 'friendRequestReceived', 'channelPost', 'channelPost', 'channelPost'], 'newest first');
  t.same((await list(me, { types: 'channelPost,mention' })).map((n) => n.type), ['mention', 'channelPost', 'channelPost', 'channelPost']);
  const badType = await me.client.GET('/notifications', { params: { query: { types: 'likes' } } });
  t.equal(badType.response.status, 400);

  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await unwrap(me.client.GET('/notifications', { params: { query: { limit: 2, cursor } } }));
    t.ok(page.data.length <= 2);
    seen.push(...page.data.map((n) => n.id));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  t.same(seen, all.map((n) => n.id), 'the cursor walk sees each once, in order');
  const first = await unwrap(me.client.GET('/notifications', { params: { query: { limit: 2 } } }));
  const changed = await me.client.GET('/notifications', { params: { query: { limit: 2, cursor: first.nextCursor!, types: 'mention' } } });
  t.equal(changed.response.status, 400, 'a cursor is bound to its filters');
  t.same(changed.error!.errors, [{ pointer: 'query/cursor', detail: 'was issued for other filters; start again without it' }]);
  t.same((await unwrap(me.client.GET('/notifications', { params: { query: { limit: 2, page: 2 } } }))).data.map((n) => n.id), all.slice(2, 4).map((n) => n.id));

  const groups = (await unwrap(me.client.GET('/notifications/groups'))).data;
  t.same(groups.map((g) => [g.type, g.count]), [['mention', 1], ['friendRequestReceived', 1], ['channelPost', 3]]);
  const posts = groups[2]!;
  t.same(posts.sampleAccounts.map((s) => s.id), [a.account.id, b.account.id], 'distinct actors, newest first');
  t.equal(posts.latest.id, all[2]!.id);
  t.equal(posts.groupKey, all[4]!.groupKey);
  t.ok(posts.newestAt >= posts.oldestAt);
  const paged = await unwrap(me.client.GET('/notifications/groups', { params: { query: { limit: 2 } } }));
  const rest = await unwrap(me.client.GET('/notifications/groups', { params: { query: { limit: 2, cursor: paged.nextCursor! } } }));
  t.same([...paged.data, ...rest.data].map((g) => g.groupKey), groups.map((g) => g.groupKey));
  t.equal(rest.nextCursor, null);
});

t.test('the marker: read, moved with If-Match (428, 412), forward only, counting the unread', async (t) => {
  const [me, a, b] = await Promise.all([agora.signUp(), agora.signUp(), agora.signUp()]);
  await unwrap(a.client.POST('/friend-requests', { body: { accountId: me.account.id } }));
  await unwrap(b.client.POST('/friend-requests', { body: { accountId: me.account.id } }));
  const [newest, oldest] = await list(me);

  const fresh = await me.client.GET('/notifications/marker');
  t.same(fresh.data, { lastReadId: null, unreadCount: 2, version: 0 });
  t.equal(fresh.response.headers.get('etag'), '"0"');

  const without = await agora.raw('PUT', '/v1/notifications/marker', {
    headers: { authorization: `Bearer ${me.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ lastReadId: oldest!.id }),
  });
  t.equal(without.status, 428);
  const moved = await me.client.PUT('/notifications/marker', { params: { header: { 'If-Match': '"0"' } }, body: { lastReadId: oldest!.id } });
  t.equal(moved.response.status, 200);
  t.same(moved.data, { lastReadId: oldest!.id, unreadCount: 1, version: 1 });
  t.equal(moved.response.headers.get('etag'), '"1"');
  const stale = await me.client.PUT('/notifications/marker', { params: { header: { 'If-Match': '"0"' } }, body: { lastReadId: newest!.id } });
  t.equal(stale.response.status, 412);
  t.equal(stale.error!.currentVersion, 1);

  const back = await unwrap(me.client.PUT('/notifications/marker', { params: { header: { 'If-Match': '"1"' } }, body: { lastReadId: oldest!.id } }));
  t.same(back, { lastReadId: oldest!.id, unreadCount: 1, version: 1 }, 'moving to where it is changes nothing');
  const all = await unwrap(me.client.PUT('/notifications/marker', { params: { header: { 'If-Match': '"1"' } }, body: { lastReadId: newest!.id } }));
  t.same(all, { lastReadId: newest!.id, unreadCount: 0, version: 2 });
  const backwards = await unwrap(me.client.PUT('/notifications/marker', { params: { header: { 'If-Match': '*' } }, body: { lastReadId: oldest!.id } }));
  t.same(backwards, { lastReadId: newest!.id, unreadCount: 0, version: 2 }, 'moving backwards is a no-op');

  const notMine = await a.client.PUT('/notifications/marker', { params: { header: { 'If-Match': '"0"' } }, body: { lastReadId: newest!.id } });
  t.equal(notMine.response.status, 400, "another account's notification cannot be a marker");
  t.same(notMine.error!.errors, [{ pointer: '/lastReadId', detail: 'is not one of your notifications' }]);
  t.equal((await unwrap(a.client.GET('/notifications/marker'))).version, 0);
});

t.test('dismissing: only your own, once; OPTIONS says so', async (t) => {
  const [me, a] = await Promise.all([agora.signUp(), agora.signUp()]);
  await unwrap(a.client.POST('/friend-requests', { body: { accountId: me.account.id } }));
  const [notification] = await list(me);
  const path = `/v1/notifications/${notification!.id}`;
  const as = (who: Person) => ({ headers: { authorization: `Bearer ${who.token}` } });

  t.equal((await agora.raw('OPTIONS', path, as(me))).headers.get('allow'), 'DELETE, OPTIONS');
  t.equal((await agora.raw('OPTIONS', path, as(a))).status, 404);
  t.equal((await agora.raw('OPTIONS', path)).status, 401);
  for (const [p, allow] of [['/v1/notifications', 'GET, HEAD, OPTIONS'], ['/v1/notifications/groups', 'GET, HEAD, OPTIONS'], ['/v1/notifications/marker', 'GET, HEAD, PUT, OPTIONS']] as const) {
    t.equal((await agora.raw('OPTIONS', p, as(me))).headers.get('allow'), allow, p);
  }

  t.equal((await agora.raw('DELETE', path, as(a))).status, 404, "somebody else's does not exist");
  t.equal((await agora.raw('DELETE', path, as(me))).status, 204);
  t.equal((await agora.raw('DELETE', path, as(me))).status, 404, 'dismissed: gone');
  t.same(await list(me), []);
});

t.test('closing an account removes its notifications and those it caused', async (t) => {
  const [me, a] = await Promise.all([agora.signUp(), agora.signUp()]);
  await befriend(a, me);
  t.equal((await list(me)).length, 1);
  t.equal((await list(a)).length, 1);
  await unwrap(a.client.DELETE('/accounts/{accountId}', { params: { path: { accountId: a.account.id } } }));
  t.same(await list(me), [], 'what the closed account caused is gone');
  t.equal((await agora.sql('select count(*)::int as n from notifications.notification where recipient_id = $1 or actor_id = $1', [a.account.id]))[0]!.n, 0);
});

t.test('deleting a channel removes the notifications about its posts', async (t) => {
  const [owner, member] = await Promise.all([agora.signUp(), agora.signUp()]);
  const channel = await unwrap(owner.client.POST('/channels', { body: { name: 'short-lived', visibility: 'public' } }));
  await unwrap(member.client.PUT('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: channel.id, accountId: member.account.id } } }));
  await unwrap(owner.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: channel.id } }, body: { text: 'soon gone' } }));
  t.equal((await list(member)).length, 1);
  await unwrap(owner.client.DELETE('/channels/{channelId}', { params: { path: { channelId: channel.id } } }));
  t.same(await list(member), []);
});

t.test('deleting a post removes the notifications about it, and only those', async (t) => {
  const [owner, member, mentioned] = await Promise.all([agora.signUp(), agora.signUp(), agora.signUp()]);
  const channel = await unwrap(owner.client.POST('/channels', { body: { name: 'kept', visibility: 'public' } }));
  await unwrap(member.client.PUT('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: channel.id, accountId: member.account.id } } }));
  const mention = await unwrap(owner.client.POST('/posts', { body: { text: `soon gone, @${mentioned.account.handle}` } }));
  const kept = await unwrap(owner.client.POST('/posts', { body: { text: `staying, @${mentioned.account.handle}` } }));
  const inChannel = await unwrap(owner.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: channel.id } }, body: { text: 'soon gone too' } }));
  const keptInChannel = await unwrap(owner.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: channel.id } }, body: { text: 'staying too' } }));
  t.same((await list(mentioned)).map((n) => n.postId).toSorted(), [mention.id, kept.id].toSorted());
  t.same((await list(member)).map((n) => n.postId).toSorted(), [inChannel.id, keptInChannel.id].toSorted());

  // By its author; a channel post by the channel's owner, who wrote it here.
  await unwrap(owner.client.DELETE('/posts/{postId}', { params: { path: { postId: mention.id } } }));
  await unwrap(owner.client.DELETE('/posts/{postId}', { params: { path: { postId: inChannel.id } } }));
  // At once: the deletion answered after the notifications went (no job to wait for).
  const left = (who: Person) => agora.sql('select post_id from notifications.notification where recipient_id = $1', [who.account.id]);
  t.same((await left(mentioned)).map((r) => r.post_id), [kept.id], "the deleted post's mention is gone, the other stays");
  t.same((await left(member)).map((r) => r.post_id), [keptInChannel.id], "the deleted channel post's notification is gone, the other stays");
  t.same((await list(mentioned)).map((n) => n.postId), [kept.id]);
  t.same((await list(member)).map((n) => n.postId), [keptInChannel.id]);
});

t.test("deleting a message: its notice names the next message its recipient did not write, or goes", async (t) => {
  const [ada, bob, cy] = await Promise.all([agora.signUp(), agora.signUp(), agora.signUp()]);
  await befriend(ada, bob);
  await befriend(ada, cy);
  const say = async (who: Person, conversationId: string, text: string) =>
    unwrap(who.client.POST('/conversations/{conversationId}/messages', { params: { path: { conversationId } }, body: { text } }));
  const unsay = (who: Person, conversationId: string, messageId: string) =>
    unwrap(who.client.DELETE('/conversations/{conversationId}/messages/{messageId}', { params: { path: { conversationId, messageId } } }));
  // As listed (the actor, the conversation), with the message it names (stored, not shown).
  const notices = async (who: Person) => {
    const listed = await list(who, { types: 'messageReceived' });
    const named = new Map((await agora.sql('select id, message_id from notifications.notification where recipient_id = $1', [who.account.id])).map((r) => [r.id as string, r.message_id as string]));
    return listed.map((n) => ({ id: n.id, conversationId: n.conversationId, messageId: named.get(n.id), actorId: n.actor.id }));
  };

  // Two: the notice names the first unread message; deleted, it names the next; both deleted, it goes.
  const pair = await unwrap(ada.client.POST('/conversations', { body: { participantIds: [bob.account.id] } }));
  const first = await say(ada, pair.id, 'first');
  const second = await say(ada, pair.id, 'second');
  const [notice] = await notices(bob);
  t.same(notice, { id: notice!.id, conversationId: pair.id, messageId: first.id, actorId: ada.account.id }, 'the notice names the first unread message');
  await unsay(ada, pair.id, first.id);
  // At once: the deletion answered after the notice was renamed (no job to wait for).
  t.same(await notices(bob), [{ id: notice!.id, conversationId: pair.id, messageId: second.id, actorId: ada.account.id }], 'it names the next message now');
  t.equal((await bob.client.GET('/conversations/{conversationId}/messages/{messageId}', { params: { path: { conversationId: pair.id, messageId: second.id } } })).response.status, 200, 'which is there');
  await unsay(ada, pair.id, second.id);
  t.same(await notices(bob), [], 'with no message left to name, the notice goes');

  // Three: each recipient's notice names the next message it did not write itself.
  const group = await unwrap(ada.client.POST('/conversations', { body: { participantIds: [bob.account.id, cy.account.id] } }));
  const opening = await say(ada, group.id, 'opening');
  const reply = await say(cy, group.id, 'a reply by cy');
  const [bobs] = await notices(bob);
  const [cys] = await notices(cy);
  const [adas] = await notices(ada);
  t.equal(bobs!.messageId, opening.id);
  t.equal(cys!.messageId, opening.id);
  t.equal(adas!.messageId, reply.id, "ada hears of cy's reply");
  await unsay(ada, group.id, opening.id);
  t.same(await notices(bob), [{ id: bobs!.id, conversationId: group.id, messageId: reply.id, actorId: cy.account.id }], "bob's names cy's reply, by cy");
  t.same(await notices(cy), [], "cy's goes: what follows is cy's own");
  t.same(await notices(ada), [adas], "ada's, about another message, stays as it was");

  // Four: a notice read, then a newer one about the next message: the read one's message deleted,
  // it does not come to name what the newer one names (two notices of one message); it goes.
  const again = await unwrap(cy.client.POST('/conversations', { body: { participantIds: [ada.account.id] } }));
  const early = await say(ada, again.id, 'early');
  const [read] = await notices(cy);
  t.equal(read!.messageId, early.id);
  await unwrap(cy.client.PUT('/notifications/marker', { params: { header: { 'If-Match': '*' } }, body: { lastReadId: read!.id } }));
  const later = await say(ada, again.id, 'later');
  const both = await notices(cy);
  t.same(both.map((n) => n.messageId), [later.id, early.id], 'the message after the read notice has a notice of its own');
  await unsay(ada, again.id, early.id);
  t.same(await notices(cy), [both[0]], 'the read notice goes rather than name the later message a second time');
});

t.test("a message deleted while its notice's job is writing it: the clean-up waits for that transaction, then renames the notice", async (t) => {
  const [ada, bob] = await Promise.all([agora.signUp(), agora.signUp()]);
  await befriend(ada, bob);
  const conversation = await unwrap(ada.client.POST('/conversations', { body: { participantIds: [bob.account.id] } }));
  const say = (text: string) => unwrap(ada.client.POST('/conversations/{conversationId}/messages', { params: { path: { conversationId: conversation.id } }, body: { text } }));
  const [first, second] = [await say('first'), await say('second')];
  await settled();
  const named = async () => (await agora.sql('select message_id from notifications.notification where recipient_id = $1 and type = $2', [bob.account.id, 'messageReceived'])).map((r) => r.message_id);
  t.same(await named(), [first.id], "bob's notice names the first message");
  // As if first's job had not committed yet: its notice is gone, and a job's transaction (a
  // batch's, say) writes it again and stays open.
  await agora.sql('delete from notifications.notification where recipient_id = $1', [bob.account.id]);
  const client = new pg.Client({ connectionString: agora.databaseUrl });
  await client.connect();
  t.teardown(() => client.end());
  await client.query('begin');
  await agora.services.notifications.onMessageSent(
    { conversationId: conversation.id, messageId: first.id, authorId: ada.account.id, recipientIds: [bob.account.id] },
    clientUow(client),
  );
  // The deletion's clean-up, meanwhile.
  let cleaned = false;
  const cleanUp = agora.services.notifications
    .onMessageDeleted({ conversationId: conversation.id, messageId: first.id, authorId: ada.account.id, successors: [{ recipientId: bob.account.id, messageId: second.id, authorId: ada.account.id }] })
    .then(() => void (cleaned = true));
  await new Promise((done) => setTimeout(done, 300));
  t.notOk(cleaned, "it waits for the conversation's lock, which the job's transaction holds");
  await client.query('commit');
  await cleanUp;
  t.same(await named(), [second.id], 'then finds the notice committed, and renames it: none is left naming the deleted message');
});

t.test("a post or a message deleted before its event's job ran: the job, run late, notifies nobody", async (t) => {
  const [ada, bob] = await Promise.all([agora.signUp(), agora.signUp()]);
  await befriend(ada, bob);
  await settled();
  const { notifications } = agora.services;
  const count = async () => (await agora.sql('select count(*)::int as n from notifications.notification where recipient_id = $1', [bob.account.id]))[0]!.n as number;
  const before = await count();

  // A message unsent before its message.sent job ran: that job runs afterwards (here: again), as a late or retried one would.
  const conversation = await unwrap(ada.client.POST('/conversations', { body: { participantIds: [bob.account.id] } }));
  const unsent = await unwrap(ada.client.POST('/conversations/{conversationId}/messages', { params: { path: { conversationId: conversation.id } }, body: { text: 'oops' } }));
  await settled();
  await unwrap(ada.client.DELETE('/conversations/{conversationId}/messages/{messageId}', { params: { path: { conversationId: conversation.id, messageId: unsent.id } } }));
  t.equal(await count(), before, "the notice the job made went with the message");
  await notifications.onMessageSent({ conversationId: conversation.id, messageId: unsent.id, authorId: ada.account.id, recipientIds: [bob.account.id] });
  t.equal(await count(), before, 'its job run again, late, makes none');
  const kept = await unwrap(ada.client.POST('/conversations/{conversationId}/messages', { params: { path: { conversationId: conversation.id } }, body: { text: 'meant to say' } }));
  await settled();
  t.equal(await count(), before + 1, 'the next message notifies as usual');
  t.equal((await agora.sql('select message_id from notifications.notification where recipient_id = $1 and type = $2', [bob.account.id, 'messageReceived']))[0]!.message_id, kept.id);

  // A post deleted before its post.published job ran; a week-old forgotten key is let go meanwhile.
  await agora.sql("insert into notifications.forgotten (source_key, forgotten_at) values ('post:long-ago', now() - interval '8 days')");
  const post = await unwrap(ada.client.POST('/posts', { body: { text: `soon gone, @${bob.account.handle}` } }));
  await settled();
  await unwrap(ada.client.DELETE('/posts/{postId}', { params: { path: { postId: post.id } } }));
  const mentions = async () => (await agora.sql('select count(*)::int as n from notifications.notification where post_id = $1', [post.id]))[0]!.n as number;
  t.equal(await mentions(), 0);
  await notifications.onPostPublished({ postId: post.id, authorId: ada.account.id, channelId: null, text: `soon gone, @${bob.account.handle}`, createdAt: post.createdAt });
  t.equal(await mentions(), 0, 'its job run again, late, mentions nobody');
  const remembered = await agora.sql('select source_key from notifications.forgotten where source_key in ($1, $2, $3) order by source_key', [`post:${post.id}`, `message:${unsent.id}`, 'post:long-ago']);
  t.same(remembered.map((r) => r.source_key), [`message:${unsent.id}`, `post:${post.id}`], 'both source keys are kept as forgotten; one older than a week is not');
});

t.test('an idempotent request and its notification commit together, once', async (t) => {
  const [ada, bob] = await Promise.all([agora.signUp(), agora.signUp()]);
  const send = () => ada.client.POST('/friend-requests', { body: { accountId: bob.account.id }, params: { header: { 'Idempotency-Key': `notify-${bob.account.id}` } } });
  t.equal((await send()).response.status, 201);
  t.equal((await send()).response.headers.get('idempotent-replayed'), 'true');
  t.equal((await list(bob)).length, 1);
});

t.test('keyed messages sent at once all answer, and the conversation notifies once', async (t) => {
  // More keyed sends at once than the pool admits transactions (the tests' pool of 5 admits 4):
  // a keyed send must take no second transaction while its own holds a connection (with every
  // turn taken by a request waiting for another, none would ever come). Its event's job is
  // enqueued in its own transaction; the worker makes the notification afterwards.
  const [ada, bob] = await Promise.all([agora.signUp(), agora.signUp()]);
  await befriend(ada, bob);
  const conversation = await unwrap(ada.client.POST('/conversations', { body: { participantIds: [bob.account.id] } }));
  const sends = Array.from({ length: 8 }, (_, i) =>
    ada.client.POST('/conversations/{conversationId}/messages', {
      params: { path: { conversationId: conversation.id }, header: { 'Idempotency-Key': `at-once-${i}-${conversation.id}` } },
      body: { text: `message ${i}` },
    }),
  );
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), 15_000)));
  const answered = await Promise.race([Promise.all(sends), hung]);
  clearTimeout(timer);
  if (answered === 'hung') return t.fail('the keyed sends did not answer within 15 s');
  t.same(answered.map((r) => r.response.status), Array(8).fill(201));
  await settled();
  const heard = await list(bob, { types: 'messageReceived' });
  t.equal(heard.length, 1, 'an unread conversation notifies once');
  t.equal(heard[0]!.conversationId, conversation.id);
});

t.test('anonymous callers have no notifications', async (t) => {
  const anonymous = agora.client();
  t.equal((await anonymous.GET('/notifications')).response.status, 401);
  t.equal((await anonymous.GET('/notifications/marker')).response.status, 401);
});

t.test('a write whose transaction rolls back (a 5xx) leaves neither the post, nor its job, nor a notification', async (t) => {
  const [ada, bob] = await Promise.all([agora.signUp(), agora.signUp()]);
  // The post's transaction fails at COMMIT, after the post and its event's job were written in it.
  const marker = `rolled back ${bob.account.id}`;
  await agora.sql(`create or replace function public.refuse_marked_post() returns trigger language plpgsql as $$
    begin raise exception 'refused by the test'; end $$`);
  await agora.sql(`create constraint trigger refuse_marked_post after insert on posts.post deferrable initially deferred
    for each row when (new.text like '%rolled back %') execute function public.refuse_marked_post()`);
  t.teardown(() => agora.sql('drop trigger if exists refuse_marked_post on posts.post'));
  const text = `@${bob.account.handle} ${marker}`;
  const headers = { authorization: `Bearer ${ada.token}`, 'content-type': 'application/json' };
  const keyed = await agora.raw('POST', '/v1/posts', { headers: { ...headers, 'idempotency-key': `rollback-${bob.account.id}` }, body: JSON.stringify({ text }) });
  t.equal(keyed.status, 500, 'a keyed request (the idempotency unit of work)');
  const unkeyed = await agora.raw('POST', '/v1/posts', { headers, body: JSON.stringify({ text }) });
  t.equal(unkeyed.status, 500, 'an unkeyed request (a unit of work of its own)');
  await settled();
  t.equal((await agora.sql('select count(*)::int as n from posts.post where text = $1', [text]))[0]!.n, 0, 'no post');
  t.equal((await agora.sql(`select count(*)::int as n from pgboss.job where name = 'events.notifications' and data->'payload'->>'text' = $1`, [text]))[0]!.n, 0, 'no job');
  t.same(await list(bob), [], 'no notification');

  await agora.sql('drop trigger refuse_marked_post on posts.post');
  const again = await agora.raw('POST', '/v1/posts', { headers: { ...headers, 'idempotency-key': `rollback-${bob.account.id}` }, body: JSON.stringify({ text }) });
  t.equal(again.status, 201, 'the key was not spent by the attempt that rolled back');
  const heard = await list(bob);
  t.equal(heard.length, 1, 'once committed, the mention is notified');
  t.match(heard[0], { type: 'mention', postId: again.json.id });
});

t.test("a domain event's job run again (a retry after a crash) notifies once", async (t) => {
  const [ada, bob] = await Promise.all([agora.signUp(), agora.signUp()]);
  const request = await unwrap(ada.client.POST('/friend-requests', { body: { accountId: bob.account.id } }));
  t.equal((await list(bob)).length, 1);
  const [job] = await agora.sql(`select data, state from pgboss.job where name = 'events.notifications' and data->'payload'->>'requestId' = $1`, [request.id]);
  t.same(job, { state: 'completed', data: { event: 'friendRequest.created', payload: { requestId: request.id, senderId: ada.account.id, recipientId: bob.account.id } } });
  // The same job data twice more, as a worker that died after its effect but before its
  // completion would leave it to be run again.
  const pool = { query: async <R,>(text: string, params?: readonly unknown[]) => (await agora.sql(text, params ? [...params] : [])) as R[] };
  await agora.jobs!.send(pool, 'events.notifications', job!.data);
  await agora.jobs!.send(pool, 'events.notifications', job!.data);
  await settled();
  const runs = await agora.sql(`select state from pgboss.job where name = 'events.notifications' and data->'payload'->>'requestId' = $1`, [request.id]);
  t.same(runs.map((r) => r.state), ['completed', 'completed', 'completed'], 'every run succeeded');
  t.equal((await list(bob)).length, 1, 'one notification');
});

t.test("a post and its event's job are written in one transaction, the request's when it is keyed", async (t) => {
  const [ada, bob] = await Promise.all([agora.signUp(), agora.signUp()]);
  const headers = { authorization: `Bearer ${ada.token}`, 'content-type': 'application/json' };
  t.equal((await agora.raw('POST', '/v1/posts', { headers, body: JSON.stringify({ text: 'warming the caches' }) })).status, 201);
  await settled();
  // A post that mentions nobody, outside any channel, notifies nobody: its event enqueues no
  // job, and its write is the insert alone.
  const quiet = await agora.statementsDuring(() => agora.raw('POST', '/v1/posts', { headers, body: JSON.stringify({ text: 'nobody named' }) }));
  t.notOk(quiet.statements.includes('begin'), `no transaction:\n${quiet.statements.join('\n')}`);
  t.equal(quiet.statements.filter((s) => /^insert into posts\.post/.test(s)).length, 1);
  t.notOk(quiet.statements.some((s) => /pgboss\.job/.test(s)), 'no job');
  const mention = `unkeyed, for @${bob.account.handle}`;
  const unkeyed = await agora.statementsDuring(() => agora.raw('POST', '/v1/posts', { headers, body: JSON.stringify({ text: mention }) }));
  // Before the transaction, the reads the request needs (unless cached); then the unit of work
  // the posts service opens for its write and its event: one round trip more than the insert
  // alone, the price of a job that commits (or not) with its post. The job's insert goes with
  // the COMMIT (src/jobs/queue.ts, `enqueue`).
  const written = unkeyed.statements.slice(unkeyed.statements.indexOf('begin'));
  t.equal(written.length, 3, `begin, insert the post, insert the job with the commit:\n${written.join('\n')}`);
  t.equal(written[0], 'begin');
  t.match(written[1], /^insert into posts\.post/);
  // pg-boss's insert, prepared once per connection (the first time, its PREPARE goes before) and
  // executed by name with the job written in (src/persistence/sql.ts, `commitTexts`).
  t.match(written[2], /^(prepare (agora_reused_\w+) as\s+INSERT INTO pgboss\.job[\s\S]*;\n)?execute agora_reused_\w+\('\[\{[^']*"event":"post\.published"[^']*'\);\ncommit$/);
  // The queue wakes its workers after the commit (src/jobs/queue.ts), in the instance's statement
  // of wake-ups, on the invalidation listener's connection: no NOTIFY from the transaction, whose
  // commit would then wait for every other notifying one (test/wake-after-commit.test.ts hears it).
  t.notOk(written.some((s) => /pg_notify/.test(s)), 'the job is inserted without a notification');

  const keyed = await agora.statementsDuring(() =>
    agora.raw('POST', '/v1/posts', { headers: { ...headers, 'idempotency-key': `one-transaction-${ada.account.id}` }, body: JSON.stringify({ text: `keyed, for @${bob.account.handle}` }) }),
  );
  const at = (pattern: RegExp) => keyed.statements.findIndex((s) => pattern.test(s));
  // The keyed transaction's BEGIN goes with its claim in front of the post's insert, its COMMIT
  // with the job's insert and the record (src/persistence/sql.ts); no lookup of the key before.
  const [post, commit] = ([/^begin;\nselect idempotency\.claim\([^;]*\);\ninsert into posts\.post/, /^(prepare (agora_reused_\w+) as\s+INSERT INTO pgboss\.job[\s\S]*;\n)?execute agora_reused_\w+\('[^']*"event":"post\.published"[^']*'\);\ninsert into idempotency\.record[\s\S]*;\s*commit$/].map(at)) as [number, number];
  t.ok(post >= 0 && post < commit, `the post, then its job with the idempotency record and the commit:\n${keyed.statements.join('\n')}`);
  t.notOk(keyed.statements.some((s) => /from idempotency\.record where/.test(s)), 'no lookup of the key');
  t.equal(keyed.statements.filter((s) => /INSERT INTO pgboss\.job|execute agora_reused_/.test(s)).length, 1, 'the job is inserted once, with the commit, by the name prepared before');
  t.equal(keyed.statements.filter((s) => /^begin\b/.test(s)).length, 1, 'one transaction');
  t.equal(keyed.statements.filter((s) => /\bcommit$/.test(s)).length, 1, 'committed once');
});

t.test("a batch's messages written together (onMessagesSent, one statement) leave what they would one at a time, on random histories", async (t) => {
  const people = await Promise.all([agora.signUp(), agora.signUp(), agora.signUp()]);
  const ids = people.map((p) => p.account.id);
  const client = new pg.Client({ connectionString: agora.databaseUrl });
  await client.connect();
  t.teardown(() => client.end());
  const uow = clientUow(client);
  // A small generator of its own, seeded, so that a failing history can be read again.
  let seed = 20261205;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const uuid = (kind: number, n: number) => `01939a1c-0000-7000-8000-${kind.toString(16).padStart(4, '0')}${n.toString(16).padStart(8, '0')}`;
  const written = async (conversations: string[]) =>
    (await client.query(
      'select recipient_id, conversation_id, message_id, actor_id from notifications.notification where conversation_id = any($1::uuid[]) order by seq',
      [conversations],
    )).rows;
  let differences = 0;
  for (let round = 0; round < 40; round++) {
    const conversations = [uuid(round + 1, 0), uuid(round + 1, 1), uuid(round + 1, 2)];
    // What is there before: earlier notices (read or not), a recipient's marker past some of
    // them, messages of the batch forgotten (deleted before their job ran) or already notified (a
    // retried batch).
    const history: { sql: string; params: unknown[] }[] = [];
    const events = Array.from({ length: 2 + Math.floor(random() * 11) }, (_, n) => {
      const conversationId = pick(conversations);
      const authorId = pick(ids);
      return {
        conversationId,
        messageId: uuid(round + 1, 100 + n),
        authorId,
        recipientIds: ids,
        ...(random() < 0.2 ? { readingIds: [pick(ids)] } : {}),
      };
    });
    // A batch runs its jobs in their keys' order: by conversation, then message.
    events.sort((a, b) => (a.conversationId < b.conversationId ? -1 : a.conversationId > b.conversationId ? 1 : a.messageId < b.messageId ? -1 : 1));
    for (const [n, conversationId] of conversations.entries()) {
      for (const recipientId of ids) {
        if (random() < 0.4) {
          history.push({
            sql: `insert into notifications.notification (id, recipient_id, type, actor_id, conversation_id, message_id, group_key, source_key, created_at)
                  values (gen_random_uuid(), $1, 'messageReceived', $2, $3::uuid, $4::uuid, 'messageReceived:' || $3::text, 'message:' || $4::text, now())`,
            params: [recipientId, pick(ids.filter((id) => id !== recipientId)), conversationId, uuid(round + 1, 50 + n)],
          });
        }
      }
    }
    for (const event of events) {
      if (random() < 0.15) history.push({ sql: `insert into notifications.forgotten (source_key, forgotten_at) values ('message:' || $1::text, now()) on conflict do nothing`, params: [event.messageId] });
      if (random() < 0.15) {
        const recipientId = pick(ids.filter((id) => id !== event.authorId));
        history.push({
          sql: `insert into notifications.notification (id, recipient_id, type, actor_id, conversation_id, message_id, group_key, source_key, created_at)
                values (gen_random_uuid(), $1, 'messageReceived', $2, $3::uuid, $4::uuid, 'messageReceived:' || $3::text, 'message:' || $4::text, now()) on conflict do nothing`,
          params: [recipientId, event.authorId, event.conversationId, event.messageId],
        });
      }
    }
    for (const recipientId of ids) {
      if (random() < 0.5) {
        // The marker past the recipient's notices so far: those are read.
        history.push({
          sql: `insert into notifications.marker (account_id, last_read_seq, last_read_id, version, updated_at)
                select $1, seq, id, 1, now() from notifications.notification where recipient_id = $1 order by seq desc limit 1
                on conflict (account_id) do update set last_read_seq = excluded.last_read_seq, last_read_id = excluded.last_read_id`,
          params: [recipientId],
        });
      }
    }
    const run = async (write: () => Promise<void>) => {
      await client.query('begin');
      try {
        for (const step of history) await client.query(step.sql, step.params);
        const before = await written(conversations);
        await write();
        return { before, after: await written(conversations) };
      } finally {
        await client.query('rollback');
      }
    };
    const alone = await run(async () => {
      for (const event of events) await agora.services.notifications.onMessageSent(event, uow);
    });
    const together = await run(() => agora.services.notifications.onMessagesSent(events, uow));
    t.same(together.before, alone.before, `round ${round}: the same history`);
    if (JSON.stringify(together.after) !== JSON.stringify(alone.after)) differences++;
    t.same(together.after, alone.after, `round ${round}: the same notices, in the same order (${events.length} messages, ${alone.after.length - alone.before.length} notices)`);
  }
  t.equal(differences, 0, 'no history where they differ');
});
