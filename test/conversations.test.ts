// Direct messages (the messages domain) through HTTP on a real database: conversations among
// friends only, messages newest first, idempotent sends, read markers, what strangers see
// (nothing: 404), and what closing an account leaves behind.
import t from 'tap';
import { ifMatch, unwrap, type AgoraClient } from 'agora-sdk';
import { startAgora } from './helpers/agora.ts';
import { total } from './helpers/metrics.ts';

const agora = await startAgora(t);
const [ada, bob, cy, dee, stranger] = await Promise.all([agora.signUp(), agora.signUp(), agora.signUp(), agora.signUp(), agora.signUp()]);
const anonymous = agora.client();
const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const UNKNOWN = '01a20a21-4c2b-7441-8746-a768807f76b6';

async function befriend(a: { client: AgoraClient; account: { id: string } }, b: { client: AgoraClient; account: { id: string } }) {
  await unwrap(a.client.POST('/friend-requests', { body: { accountId: b.account.id } }));
  await unwrap(b.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: b.account.id, friendId: a.account.id } } }));
}
await befriend(ada, bob);
await befriend(ada, cy);
await befriend(ada, dee);

const start = (who: { client: AgoraClient }, participantIds: string[]) => who.client.POST('/conversations', { body: { participantIds } });
const send = (who: { client: AgoraClient }, conversationId: string, text: string) =>
  who.client.POST('/conversations/{conversationId}/messages', { params: { path: { conversationId } }, body: { text } });

t.test('a conversation starts between friends only, once per set of people', async (t) => {
  const created = await start(ada, [bob.account.id]);
  t.equal(created.response.status, 201);
  const conversation = created.data!;
  t.equal(created.response.headers.get('location'), `/v1/conversations/${conversation.id}`);
  t.same(conversation.participants, [
    { id: ada.account.id, handle: ada.account.handle, displayName: ada.account.displayName, closed: false },
    { id: bob.account.id, handle: bob.account.handle, displayName: bob.account.displayName, closed: false },
  ]);
  t.match(conversation, { lastMessage: null, unreadCount: 0, marker: { conversationId: conversation.id, lastReadMessageId: null, unreadCount: 0, version: 0 } });
  t.equal(conversation.createdAt, conversation.lastActivityAt);

  const again = await start(bob, [ada.account.id]);
  t.equal(again.response.status, 200, 'the same people, started by the other, get the existing one');
  t.equal(again.data!.id, conversation.id);
  t.equal(again.response.headers.get('location'), null);

  const refused = await start(bob, [cy.account.id]);
  t.equal(refused.response.status, 403, 'someone who is not your friend cannot be messaged unasked');
  t.equal(refused.error!.type, 'urn:agora:problem:forbidden');
  t.match(refused.error!.detail, cy.account.id);
  t.equal((await start(ada, [bob.account.id, stranger.account.id])).response.status, 403, 'one stranger among friends refuses the whole group');
  t.equal((await start(ada, [UNKNOWN])).response.status, 403, 'an unknown account is not a friend either');
  t.equal(await agora.count('messages.conversation'), 1, 'refusals create nothing');

  for (const [body, pointer] of [
    [{ participantIds: [] }, '/participantIds'],
    [{ participantIds: [bob.account.id, bob.account.id] }, '/participantIds'],
    [{ participantIds: [ada.account.id] }, '/participantIds'],
    [{ participantIds: ['not-a-uuid'] }, '/participantIds/0'],
    [{ participantIds: Array.from({ length: 50 }, (_, i) => `01a20a21-4c2b-7441-8746-${String(i).padStart(12, '0')}`) }, '/participantIds'],
    [{}, '/participantIds'],
  ] as const) {
    const bad = await ada.client.POST('/conversations', { body: body as never });
    t.equal(bad.response.status, 400, JSON.stringify(body).slice(0, 80));
    t.ok(bad.error!.errors?.some((e) => e.pointer.startsWith(pointer)), `points at ${pointer}: ${JSON.stringify(bad.error!.errors)}`);
  }
  t.equal((await anonymous.POST('/conversations', { body: { participantIds: [bob.account.id] } })).response.status, 401);

  const group = await start(ada, [cy.account.id, bob.account.id]);
  t.equal(group.response.status, 201, 'a group of friends');
  t.same(group.data!.participants.map((p) => p.id), [ada.account.id, cy.account.id, bob.account.id]);
  t.equal((await start(ada, [bob.account.id, cy.account.id])).data!.id, group.data!.id, 'in any order');
});

t.test('messages: newest first, by cursor, each sent once per Idempotency-Key', async (t) => {
  const { id: conversationId } = await unwrap(start(ada, [dee.account.id]));
  const path = { conversationId };
  const texts = Array.from({ length: 5 }, (_, i) => `message ${i}`);
  for (const [i, text] of texts.entries()) await unwrap(send(i % 2 === 0 ? ada : dee, conversationId, text));

  const first = await unwrap(dee.client.GET('/conversations/{conversationId}/messages', { params: { path, query: { limit: 2 } } }));
  t.same(first.data.map((m) => m.text), ['message 4', 'message 3']);
  t.match(first.data[0], { conversationId, authorId: ada.account.id, author: { id: ada.account.id, handle: ada.account.handle, closed: false } });
  const second = await unwrap(dee.client.GET('/conversations/{conversationId}/messages', { params: { path, query: { limit: 2, cursor: first.nextCursor! } } }));
  const third = await unwrap(dee.client.GET('/conversations/{conversationId}/messages', { params: { path, query: { limit: 2, cursor: second.nextCursor! } } }));
  t.same([...second.data, ...third.data].map((m) => m.text), ['message 2', 'message 1', 'message 0']);
  t.equal(third.nextCursor, null);
  const paged = await unwrap(dee.client.GET('/conversations/{conversationId}/messages', { params: { path, query: { limit: 2, page: 2 } } }));
  t.same(paged.data.map((m) => m.text), ['message 2', 'message 1']);

  // One key, four sends at once: stored once, the same response four times.
  const before = await agora.count('messages.message');
  const headers = { ...auth(ada.token), 'content-type': 'application/json', 'idempotency-key': 'dm-once' };
  const body = JSON.stringify({ text: 'only once' });
  const url = `/v1/conversations/${conversationId}/messages`;
  const answers = await Promise.all(Array.from({ length: 4 }, () => agora.raw('POST', url, { headers, body })));
  const settled = [...answers];
  // A request that met the first still running gets 409 with Retry-After: retry it, as a client would.
  for (const [i, answer] of settled.entries()) {
    let current = answer;
    while (current.status === 409) current = await agora.raw('POST', url, { headers, body });
    settled[i] = current;
  }
  t.same(settled.map((a) => a.status), [201, 201, 201, 201]);
  t.equal(new Set(settled.map((a) => a.json.id)).size, 1, 'one message');
  t.equal(settled.filter((a) => a.headers.get('idempotent-replayed') === 'true').length, 3, 'three replays');
  t.equal(await agora.count('messages.message'), before + 1, 'stored once');
  t.equal(settled[0]!.headers.get('location'), `/v1/conversations/${conversationId}/messages/${settled[0]!.json.id}`);
  const reused = await agora.raw('POST', url, { headers, body: JSON.stringify({ text: 'something else' }) });
  t.equal(reused.status, 422);
  t.equal(reused.json.type, 'urn:agora:problem:idempotency-key-reused');

  const read = await unwrap(dee.client.GET('/conversations/{conversationId}/messages/{messageId}', { params: { path: { conversationId, messageId: settled[0]!.json.id } } }));
  t.equal(read.text, 'only once');

  for (const [text, why] of [['', 'empty'], ['x'.repeat(5001), 'too long'], [' \n\t', 'blank'], ['a\u0000b', 'NUL']] as const) {
    const bad = await send(ada, conversationId, text);
    t.equal(bad.response.status, 400, why);
    t.equal(bad.error!.errors?.[0]?.pointer, '/text', why);
  }
  t.equal((await send(ada, conversationId, 'é'.repeat(5000))).response.status, 201, '5000 characters fit');
});

t.test('conversations are listed by latest activity, with last message and unread count', async (t) => {
  const [one, two] = await Promise.all([agora.signUp(), agora.signUp()]);
  const me = await agora.signUp();
  await befriend(me, one);
  await befriend(me, two);
  const a = await unwrap(start(me, [one.account.id]));
  const b = await unwrap(start(me, [two.account.id]));
  let listed = await unwrap(me.client.GET('/conversations'));
  t.same(listed.data.map((c) => c.id), [b.id, a.id], 'the newest start first');

  await unwrap(send(one, a.id, 'first'));
  await unwrap(send(one, a.id, 'second'));
  await unwrap(send(me, a.id, 'mine'));
  listed = await unwrap(me.client.GET('/conversations'));
  t.same(listed.data.map((c) => c.id), [a.id, b.id], 'a new message moves it up');
  const top = listed.data[0]!;
  t.equal(top.lastMessage!.text, 'mine');
  t.equal(top.unreadCount, 2, 'only the others\' messages are unread');
  t.equal(top.marker.unreadCount, 2);
  t.ok(Date.parse(top.lastActivityAt) >= Date.parse(top.createdAt));
  t.same(top.participants.map((p) => p.id), [me.account.id, one.account.id]);
  t.equal(listed.data[1]!.lastMessage, null);
  t.equal((await unwrap(one.client.GET('/conversations'))).data[0]!.unreadCount, 1, 'the other side sees its own unread count');

  const paged = await unwrap(me.client.GET('/conversations', { params: { query: { limit: 1 } } }));
  t.same(paged.data.map((c) => c.id), [a.id]);
  const next = await unwrap(me.client.GET('/conversations', { params: { query: { limit: 1, cursor: paged.nextCursor! } } }));
  t.same(next.data.map((c) => c.id), [b.id]);
  t.equal(next.nextCursor, null);
  t.equal((await me.client.GET('/conversations', { params: { query: { cursor: 'bm9wZQ' } } })).response.status, 400);
  t.equal((await anonymous.GET('/conversations')).response.status, 401);

  const got = await unwrap(me.client.GET('/conversations/{conversationId}', { params: { path: { conversationId: a.id } } }));
  t.same(got, top, 'GET shows what the list shows');
});

t.test('the read marker moves forward with If-Match', async (t) => {
  const { id: conversationId } = await unwrap(start(ada, [bob.account.id]));
  const path = { conversationId };
  const m1 = await unwrap(send(bob, conversationId, 'one'));
  const m2 = await unwrap(send(bob, conversationId, 'two'));
  const m3 = await unwrap(send(bob, conversationId, 'three'));

  const marker = await ada.client.GET('/conversations/{conversationId}/marker', { params: { path } });
  t.equal(marker.response.status, 200);
  const version = marker.data!.version;
  t.equal(marker.response.headers.get('etag'), `"${version}"`);
  t.ok(marker.data!.unreadCount >= 3);

  const without = await ada.client.PUT('/conversations/{conversationId}/marker', { params: { path } as never, body: { lastReadMessageId: m2.id } });
  t.equal(without.response.status, 428);
  const moved = await ada.client.PUT('/conversations/{conversationId}/marker', { params: { path, header: { 'If-Match': ifMatch(version) } }, body: { lastReadMessageId: m2.id } });
  t.equal(moved.response.status, 200);
  t.same(moved.data, { conversationId, lastReadMessageId: m2.id, unreadCount: 1, version: version + 1 });
  t.equal(moved.response.headers.get('etag'), `"${version + 1}"`);
  const stale = await ada.client.PUT('/conversations/{conversationId}/marker', { params: { path, header: { 'If-Match': ifMatch(version) } }, body: { lastReadMessageId: m3.id } });
  t.equal(stale.response.status, 412);
  t.equal(stale.error!.currentVersion, version + 1);

  const backwards = await ada.client.PUT('/conversations/{conversationId}/marker', { params: { path, header: { 'If-Match': ifMatch(version + 1) } }, body: { lastReadMessageId: m1.id } });
  t.equal(backwards.response.status, 200, 'moving backwards is a no-op');
  t.same(backwards.data, moved.data);
  const elsewhere = await ada.client.PUT('/conversations/{conversationId}/marker', { params: { path, header: { 'If-Match': ifMatch(version + 1) } }, body: { lastReadMessageId: UNKNOWN } });
  t.equal(elsewhere.response.status, 400);
  t.equal(elsewhere.error!.errors?.[0]?.pointer, '/lastReadMessageId');

  const conversation = await unwrap(ada.client.GET('/conversations/{conversationId}', { params: { path } }));
  t.equal(conversation.unreadCount, 1);
  t.same(conversation.marker, moved.data);
  const done = await unwrap(ada.client.PUT('/conversations/{conversationId}/marker', { params: { path, header: { 'If-Match': ifMatch(version + 1) } }, body: { lastReadMessageId: m3.id } }));
  t.equal(done.unreadCount, 0);
  t.equal((await unwrap(bob.client.GET('/conversations/{conversationId}/marker', { params: { path } }))).version, 0, 'each participant has its own');
});

t.test('its author deletes a message; another participant may not', async (t) => {
  const { id: conversationId } = await unwrap(start(ada, [bob.account.id]));
  const message = await unwrap(send(bob, conversationId, 'oops'));
  const path = { conversationId, messageId: message.id };
  t.equal((await agora.raw('OPTIONS', `/v1/conversations/${conversationId}/messages/${message.id}`, { headers: auth(bob.token) })).headers.get('allow'), 'GET, HEAD, DELETE, OPTIONS');
  t.equal((await agora.raw('OPTIONS', `/v1/conversations/${conversationId}/messages/${message.id}`, { headers: auth(ada.token) })).headers.get('allow'), 'GET, HEAD, OPTIONS');
  t.equal((await ada.client.DELETE('/conversations/{conversationId}/messages/{messageId}', { params: { path } })).response.status, 403);
  t.equal((await stranger.client.DELETE('/conversations/{conversationId}/messages/{messageId}', { params: { path } })).response.status, 404);
  t.equal((await bob.client.DELETE('/conversations/{conversationId}/messages/{messageId}', { params: { path } })).response.status, 204);
  t.equal((await bob.client.GET('/conversations/{conversationId}/messages/{messageId}', { params: { path } })).response.status, 404);
  t.equal((await bob.client.DELETE('/conversations/{conversationId}/messages/{messageId}', { params: { path } })).response.status, 404);
  const messages = await unwrap(ada.client.GET('/conversations/{conversationId}/messages', { params: { path: { conversationId } } }));
  t.notOk(messages.data.some((m) => m.id === message.id));
});

t.test('a conversation and its messages are 404 to everybody not in it', async (t) => {
  const { id: conversationId } = await unwrap(start(ada, [bob.account.id]));
  const message = await unwrap(send(ada, conversationId, 'between us'));
  const paths = [
    `/v1/conversations/${conversationId}`,
    `/v1/conversations/${conversationId}/messages`,
    `/v1/conversations/${conversationId}/messages/${message.id}`,
    `/v1/conversations/${conversationId}/marker`,
  ];
  for (const path of paths) {
    for (const method of ['GET', 'OPTIONS']) {
      t.equal((await agora.raw(method, path, { headers: auth(stranger.token) })).status, 404, `${method} ${path}`);
      t.equal((await agora.raw(method, path, { headers: auth(bob.token) })).status, method === 'GET' ? 200 : 204, `a participant: ${method} ${path}`);
      t.equal((await agora.raw(method, path)).status, 401, `anonymous: ${method} ${path}`);
    }
  }
  const json = { ...auth(stranger.token), 'content-type': 'application/json' };
  t.equal((await agora.raw('POST', paths[1]!, { headers: json, body: JSON.stringify({ text: 'hi' }) })).status, 404);
  t.equal((await agora.raw('DELETE', paths[2]!, { headers: auth(stranger.token) })).status, 404);
  t.equal((await agora.raw('PUT', paths[3]!, { headers: { ...json, 'if-match': '"0"' }, body: JSON.stringify({ lastReadMessageId: message.id }) })).status, 404);
  t.equal((await agora.raw('GET', `/v1/conversations/${UNKNOWN}`, { headers: auth(stranger.token) })).status, 404, 'the same as one that does not exist');
  t.notOk((await unwrap(stranger.client.GET('/conversations'))).data.some((c) => c.id === conversationId));
});

t.test('OPTIONS lists what the caller may do', async (t) => {
  const { id: conversationId } = await unwrap(start(ada, [cy.account.id]));
  const allow = async (path: string, token: string) => (await agora.raw('OPTIONS', path, { headers: auth(token) })).headers.get('allow');
  t.equal(await allow('/v1/conversations', ada.token), 'GET, HEAD, POST, OPTIONS');
  t.equal((await agora.raw('OPTIONS', '/v1/conversations')).status, 401);
  t.equal(await allow(`/v1/conversations/${conversationId}`, cy.token), 'GET, HEAD, OPTIONS');
  t.equal(await allow(`/v1/conversations/${conversationId}/messages`, cy.token), 'GET, HEAD, POST, OPTIONS');
  t.equal(await allow(`/v1/conversations/${conversationId}/marker`, cy.token), 'GET, HEAD, PUT, OPTIONS');

  // Unfriended, the other of two can no longer be messaged; the history stays.
  await unwrap(send(cy, conversationId, 'before'));
  await unwrap(cy.client.DELETE('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: cy.account.id, friendId: ada.account.id } } }));
  t.equal(await allow(`/v1/conversations/${conversationId}/messages`, cy.token), 'GET, HEAD, OPTIONS');
  const refused = await send(cy, conversationId, 'after');
  t.equal(refused.response.status, 403);
  t.equal((await unwrap(ada.client.GET('/conversations/{conversationId}/messages', { params: { path: { conversationId } } }))).data[0]!.text, 'before');
});

t.test('closing an account leaves the others\' history readable, its author shown closed', async (t) => {
  const [leaver, keeper, third] = await Promise.all([agora.signUp(), agora.signUp(), agora.signUp()]);
  await befriend(leaver, keeper);
  await befriend(leaver, third);
  const pair = await unwrap(start(leaver, [keeper.account.id]));
  const group = await unwrap(start(leaver, [keeper.account.id, third.account.id]));
  await unwrap(send(leaver, pair.id, 'goodbye'));
  await unwrap(send(keeper, pair.id, 'farewell'));
  await unwrap(send(leaver, group.id, 'to all'));
  const alone = await agora.signUp();
  await befriend(leaver, alone);
  const lonely = await unwrap(start(alone, [leaver.account.id]));
  await unwrap(alone.client.DELETE('/accounts/{accountId}', { params: { path: { accountId: alone.account.id } } }));

  await unwrap(leaver.client.DELETE('/accounts/{accountId}', { params: { path: { accountId: leaver.account.id } } }));
  const closed = { id: leaver.account.id, handle: null, displayName: null, closed: true };
  const messages = await unwrap(keeper.client.GET('/conversations/{conversationId}/messages', { params: { path: { conversationId: pair.id } } }));
  t.same(messages.data.map((m) => m.text), ['farewell', 'goodbye']);
  t.same(messages.data[1]!.author, closed);
  t.equal(messages.data[1]!.authorId, leaver.account.id);
  const conversation = await unwrap(keeper.client.GET('/conversations/{conversationId}', { params: { path: { conversationId: pair.id } } }));
  t.same(conversation.participants[0], closed);
  t.equal(conversation.participants[1]!.closed, false);
  t.equal((await send(keeper, pair.id, 'anyone?')).response.status, 403, 'a closed account cannot be messaged');
  t.equal((await unwrap(third.client.GET('/conversations/{conversationId}', { params: { path: { conversationId: group.id } } }))).lastMessage!.author.closed, true);
  t.equal((await send(third, group.id, 'we are still here')).response.status, 201, 'a group goes on');
  t.equal((await agora.sql('select count(*)::int as n from messages.conversation where id = $1', [lonely.id]))[0]!.n, 0, 'a conversation nobody open is left in is removed');
});

t.test("reading a conversation's messages keeps its participants in memory for the reader's next message", async (t) => {
  const lookups = async (outcome: string) => total(await agora.scrape(), 'agora_cache_lookups_total', { cache: 'participants', outcome });
  const [ria, sol, tam] = await Promise.all([agora.signUp(), agora.signUp(), agora.signUp()]);
  await Promise.all([befriend(ria, sol), befriend(ria, tam)]);
  const [read, unread] = await Promise.all([unwrap(start(ria, [sol.account.id])), unwrap(start(ria, [tam.account.id]))]);

  let [hits, misses] = [await lookups('hit'), await lookups('miss')];
  t.equal((await send(ria, unread.id, 'sent without reading first')).response.status, 201);
  t.equal((await lookups('hit')) - hits, 0, 'a conversation nobody has read or written to here is not in memory');
  t.equal((await lookups('miss')) - misses, 1);

  const page = await unwrap(ria.client.GET('/conversations/{conversationId}/messages', { params: { path: { conversationId: read.id } } }));
  t.same(page.data, []);
  [hits, misses] = [await lookups('hit'), await lookups('miss')];
  t.equal((await send(ria, read.id, 'sent after reading')).response.status, 201);
  t.equal((await lookups('hit')) - hits, 1, "the page's participants were kept");
  t.equal((await lookups('miss')) - misses, 0);

  // Kept participants still go when they change.
  await agora.sql('update messages.participant set closed_at = now() where conversation_id = $1 and account_id = $2', [read.id, sol.account.id]);
  t.equal((await send(ria, read.id, 'to a closed account')).response.status, 403, 'a participant closed after the read is seen closed');
});

t.test("what an instance keeps in memory of a conversation's participants and of a friendship goes when they change, even by hand", async (t) => {
  const [pia, quin] = await Promise.all([agora.signUp(), agora.signUp()]);
  await befriend(pia, quin);
  const pair = await unwrap(start(pia, [quin.account.id]));
  const pairs = [pia.account.id, quin.account.id];
  t.equal((await send(pia, pair.id, 'kept: the participants and the friendship')).response.status, 201);
  t.equal((await send(pia, pair.id, 'from memory')).response.status, 201);

  // `agora.sql` waits until this instance has heard what the change announced (the triggers of
  // Migration20261205110000 and Migration20261205110100).
  await agora.sql('delete from social.friendship where account_id = any($1::uuid[]) and friend_id = any($1::uuid[])', [pairs]);
  t.equal((await send(pia, pair.id, 'unfriended by hand')).response.status, 403, 'a friendship deleted by hand is forgotten');
  await agora.sql(
    'insert into social.friendship (id, account_id, friend_id, created_at) values (gen_random_uuid(), $1, $2, now()), (gen_random_uuid(), $2, $1, now())',
    pairs,
  );
  t.equal((await send(pia, pair.id, 'friends again')).response.status, 201, 'and one made by hand is seen: "not friends" was not kept');

  // A read marker moving is announced to no cache: the participants stay in memory.
  const hits = async (cache: string) => total(await agora.scrape(), 'agora_cache_lookups_total', { cache, outcome: 'hit' });
  await unwrap(send(pia, pair.id, 'participants back in memory'));
  await agora.sql('update messages.participant set last_read_message_id = null where conversation_id = $1', [pair.id]);
  const before = await hits('participants');
  t.equal((await send(pia, pair.id, 'a marker moved')).response.status, 201);
  t.equal((await hits('participants')) - before, 1, 'a marker moved by hand leaves the participants in memory');
  await agora.sql('update messages.participant set closed_at = now() where conversation_id = $1 and account_id = $2', [pair.id, quin.account.id]);
  t.equal((await send(pia, pair.id, 'to a closed account')).response.status, 403, 'a participant closed by hand is seen closed');

  // Many pairs at once (a notification carries at most 8,000 bytes: they go in several).
  const many = await agora.sql(
    `insert into social.friendship (id, account_id, friend_id, created_at)
     select gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), now() from generate_series(1, 250) returning id`,
  );
  t.equal(many.length, 250, 'a bulk insert of friendships is announced, in pieces');
  await agora.sql('delete from social.friendship where id = any($1::uuid[])', [many.map((row) => row.id)]);

  t.ok((await hits('friendships')) > 0, 'the friendships were served from memory');
});
