import t from 'tap';
import { unwrap } from 'agora-sdk';
import { startAgora } from './helpers/agora.ts';

const agora = await startAgora(t);
const [ada, bob, cyd] = await Promise.all([agora.signUp(), agora.signUp(), agora.signUp()]);
const anonymous = agora.client();
const UNKNOWN = '01a20a21-4c2b-7441-8746-a768807f76b6';

t.test('a request is sent, seen by both sides only, and accepted into a mutual friendship', async (t) => {
  const sent = await ada.client.POST('/friend-requests', { body: { accountId: bob.account.id } });
  t.equal(sent.response.status, 201);
  const request = sent.data!;
  t.equal(sent.response.headers.get('location'), `/v1/friend-requests/${request.id}`);
  t.same(request.sender, { id: ada.account.id, handle: ada.account.handle, displayName: ada.account.displayName });
  t.equal(request.recipient.id, bob.account.id);

  const incoming = await unwrap(bob.client.GET('/friend-requests'));
  t.same(incoming.data.map((r) => r.id), [request.id], 'incoming is the default direction');
  const outgoing = await unwrap(ada.client.GET('/friend-requests', { params: { query: { direction: 'outgoing' } } }));
  t.same(outgoing.data.map((r) => r.id), [request.id]);
  t.same((await unwrap(ada.client.GET('/friend-requests'))).data, [], 'nothing incoming for the sender');

  t.equal((await bob.client.GET('/friend-requests/{requestId}', { params: { path: { requestId: request.id } } })).response.status, 200);
  t.equal((await cyd.client.GET('/friend-requests/{requestId}', { params: { path: { requestId: request.id } } })).response.status, 404, 'a stranger cannot see it');
  t.equal((await anonymous.GET('/friend-requests/{requestId}', { params: { path: { requestId: request.id } } })).response.status, 401);

  const options = await agora.raw('OPTIONS', `/v1/accounts/${bob.account.id}/friends/${ada.account.id}`, { headers: { authorization: `Bearer ${bob.token}` } });
  t.equal(options.headers.get('allow'), 'GET, HEAD, PUT, OPTIONS', 'the recipient may accept');

  const stranger = await cyd.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: bob.account.id, friendId: ada.account.id } } });
  t.equal(stranger.response.status, 403, 'nobody accepts for someone else');

  const accepted = await bob.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: bob.account.id, friendId: ada.account.id } } });
  t.equal(accepted.response.status, 201);
  t.equal(accepted.response.headers.get('location'), `/v1/accounts/${bob.account.id}/friends/${ada.account.id}`);
  t.equal(accepted.data!.account.id, ada.account.id);
  const again = await bob.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: bob.account.id, friendId: ada.account.id } } });
  t.equal(again.response.status, 200, 'accepting is idempotent');
  t.equal(again.data!.since, accepted.data!.since);

  t.same((await unwrap(bob.client.GET('/friend-requests'))).data, [], 'the request is gone');
  const adasFriends = await unwrap(anonymous.GET('/accounts/{accountId}/friends', { params: { path: { accountId: ada.account.id } } }));
  t.same(adasFriends.data.map((f) => f.account.id), [bob.account.id], 'mutual: ada has bob');
  const bobsFriends = await unwrap(anonymous.GET('/accounts/{accountId}/friends', { params: { path: { accountId: bob.account.id } } }));
  t.same(bobsFriends.data.map((f) => f.account.id), [ada.account.id], 'and bob has ada');
  const one = await anonymous.GET('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: ada.account.id, friendId: bob.account.id } } });
  t.equal(one.response.status, 200);
  const none = await anonymous.GET('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: ada.account.id, friendId: cyd.account.id } } });
  t.equal(none.response.status, 404);

  const asFriend = await agora.raw('OPTIONS', `/v1/accounts/${ada.account.id}/friends/${bob.account.id}`, { headers: { authorization: `Bearer ${ada.token}` } });
  t.equal(asFriend.headers.get('allow'), 'GET, HEAD, PUT, DELETE, OPTIONS');
  const asStranger = await agora.raw('OPTIONS', `/v1/accounts/${ada.account.id}/friends/${bob.account.id}`);
  t.equal(asStranger.headers.get('allow'), 'GET, HEAD, OPTIONS');

  const notYours = await cyd.client.DELETE('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: ada.account.id, friendId: bob.account.id } } });
  t.equal(notYours.response.status, 403);
  const unfriended = await bob.client.DELETE('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: bob.account.id, friendId: ada.account.id } } });
  t.equal(unfriended.response.status, 204);
  t.same((await unwrap(anonymous.GET('/accounts/{accountId}/friends', { params: { path: { accountId: ada.account.id } } }))).data, [], 'gone on both sides');
  const twice = await bob.client.DELETE('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: bob.account.id, friendId: ada.account.id } } });
  t.equal(twice.response.status, 404);
});

t.test('ids are accepted in either case', async (t) => {
  const [left, right] = await Promise.all([agora.signUp(), agora.signUp()]);
  const sent = await left.client.POST('/friend-requests', { body: { accountId: right.account.id.toUpperCase() } });
  t.equal(sent.response.status, 201);
  const accepted = await right.client.PUT('/accounts/{accountId}/friends/{friendId}', {
    params: { path: { accountId: right.account.id.toUpperCase(), friendId: left.account.id.toUpperCase() } },
  });
  t.equal(accepted.response.status, 201);
  t.equal(accepted.data!.account.id, left.account.id, 'and answered lower-case');
});

t.test('requests that cannot be made', async (t) => {
  const self = await ada.client.POST('/friend-requests', { body: { accountId: ada.account.id } });
  t.equal(self.response.status, 400);
  t.same(self.error!.errors, [{ pointer: '/accountId', detail: 'cannot be yourself' }]);

  const unknown = await ada.client.POST('/friend-requests', { body: { accountId: UNKNOWN } });
  t.equal(unknown.response.status, 404);

  const extra = await ada.client.POST('/friend-requests', { body: { accountId: cyd.account.id, note: 'hi' } as never });
  t.equal(extra.response.status, 400, 'unknown properties are refused');

  t.equal((await anonymous.POST('/friend-requests', { body: { accountId: cyd.account.id } })).response.status, 401);

  t.equal((await ada.client.POST('/friend-requests', { body: { accountId: cyd.account.id } })).response.status, 201);
  const duplicate = await ada.client.POST('/friend-requests', { body: { accountId: cyd.account.id } });
  t.equal(duplicate.response.status, 409);
  t.equal(duplicate.error!.errors?.[0]?.pointer, '/accountId');
  const reverse = await cyd.client.POST('/friend-requests', { body: { accountId: ada.account.id } });
  t.equal(reverse.response.status, 409, 'they already asked you');
  t.match(reverse.error!.detail, /PUT \/v1\/accounts\//);

  await unwrap(cyd.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: cyd.account.id, friendId: ada.account.id } } }));
  const friends = await ada.client.POST('/friend-requests', { body: { accountId: cyd.account.id } });
  t.equal(friends.response.status, 409, 'already friends');

  const noRequest = await bob.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: bob.account.id, friendId: cyd.account.id } } });
  t.equal(noRequest.response.status, 409, 'nobody asked');
  const yourself = await bob.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: bob.account.id, friendId: bob.account.id } } });
  t.equal(yourself.response.status, 400);
  t.equal(yourself.error!.errors?.[0]?.pointer, 'path/friendId');
  const ghost = await bob.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: bob.account.id, friendId: UNKNOWN } } });
  t.equal(ghost.response.status, 404);

  await unwrap(cyd.client.DELETE('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: cyd.account.id, friendId: ada.account.id } } }));
});

t.test('the recipient declines, the sender cancels, nobody else can', async (t) => {
  const toDecline = await unwrap(ada.client.POST('/friend-requests', { body: { accountId: bob.account.id } }));
  const path = { requestId: toDecline.id };
  t.equal((await cyd.client.DELETE('/friend-requests/{requestId}', { params: { path } })).response.status, 404);
  const options = await agora.raw('OPTIONS', `/v1/friend-requests/${toDecline.id}`, { headers: { authorization: `Bearer ${bob.token}` } });
  t.equal(options.status, 204);
  t.equal(options.headers.get('allow'), 'GET, HEAD, DELETE, OPTIONS');
  const hidden = await agora.raw('OPTIONS', `/v1/friend-requests/${toDecline.id}`, { headers: { authorization: `Bearer ${cyd.token}` } });
  t.equal(hidden.status, 404);
  t.equal((await bob.client.DELETE('/friend-requests/{requestId}', { params: { path } })).response.status, 204, 'declined');
  t.equal((await bob.client.GET('/friend-requests/{requestId}', { params: { path } })).response.status, 404);

  const toCancel = await unwrap(ada.client.POST('/friend-requests', { body: { accountId: bob.account.id } }));
  t.equal((await ada.client.DELETE('/friend-requests/{requestId}', { params: { path: { requestId: toCancel.id } } })).response.status, 204, 'cancelled');
  t.same((await unwrap(bob.client.GET('/friend-requests'))).data, []);
});

t.test('lists page with cursors that belong to their filters', async (t) => {
  const fans = await Promise.all([agora.signUp(), agora.signUp(), agora.signUp()]);
  const target = await agora.signUp();
  for (const fan of fans) await unwrap(fan.client.POST('/friend-requests', { body: { accountId: target.account.id } }));
  const first = await unwrap(target.client.GET('/friend-requests', { params: { query: { limit: 2 } } }));
  t.same(first.data.map((r) => r.sender.id), [fans[2]!.account.id, fans[1]!.account.id], 'newest first');
  t.ok(first.nextCursor);
  const second = await unwrap(target.client.GET('/friend-requests', { params: { query: { limit: 2, cursor: first.nextCursor! } } }));
  t.same(second.data.map((r) => r.sender.id), [fans[0]!.account.id]);
  t.equal(second.nextCursor, null);
  const oldest = await unwrap(target.client.GET('/friend-requests', { params: { query: { sort: 'createdAt', page: 2, limit: 2 } } }));
  t.same(oldest.data.map((r) => r.sender.id), [fans[2]!.account.id]);

  const switched = await target.client.GET('/friend-requests', { params: { query: { limit: 2, cursor: first.nextCursor!, direction: 'outgoing' } } });
  t.equal(switched.response.status, 400);
  t.equal(switched.error!.errors?.[0]?.pointer, 'query/cursor');
  const badDirection = await agora.raw('GET', '/v1/friend-requests?direction=sideways', { headers: { authorization: `Bearer ${target.token}` } });
  t.equal(badDirection.status, 400);
  t.equal(badDirection.json.errors[0].pointer, 'query/direction');

  for (const fan of fans) await unwrap(target.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: target.account.id, friendId: fan.account.id } } }));
  const friends = await unwrap(anonymous.GET('/accounts/{accountId}/friends', { params: { path: { accountId: target.account.id }, query: { limit: 2 } } }));
  t.equal(friends.data.length, 2);
  const rest = await unwrap(anonymous.GET('/accounts/{accountId}/friends', { params: { path: { accountId: target.account.id }, query: { limit: 2, cursor: friends.nextCursor! } } }));
  t.same([...friends.data, ...rest.data].map((f) => f.account.id).sort(), fans.map((f) => f.account.id).sort());
  const otherAccount = await anonymous.GET('/accounts/{accountId}/friends', { params: { path: { accountId: fans[0]!.account.id }, query: { cursor: friends.nextCursor! } } });
  t.equal(otherAccount.response.status, 400, "a cursor of one account's friends is not valid for another's");
  t.equal((await anonymous.GET('/accounts/{accountId}/friends', { params: { path: { accountId: UNKNOWN } } })).response.status, 404);
  t.equal((await agora.raw('OPTIONS', `/v1/accounts/${UNKNOWN}/friends`)).status, 404);
  t.equal((await agora.raw('OPTIONS', `/v1/accounts/${target.account.id}/friends`)).headers.get('allow'), 'GET, HEAD, OPTIONS');
  t.equal((await agora.raw('OPTIONS', '/v1/friend-requests', { headers: { authorization: `Bearer ${target.token}` } })).headers.get('allow'), 'GET, HEAD, POST, OPTIONS');
  t.equal((await agora.raw('OPTIONS', '/v1/friend-requests')).status, 401);
});

t.test('closing an account removes its friendships and requests', async (t) => {
  const leaver = await agora.signUp();
  const friend = await agora.signUp();
  const asked = await agora.signUp();
  await unwrap(leaver.client.POST('/friend-requests', { body: { accountId: friend.account.id } }));
  await unwrap(friend.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: friend.account.id, friendId: leaver.account.id } } }));
  await unwrap(leaver.client.POST('/friend-requests', { body: { accountId: asked.account.id } }));
  await unwrap(leaver.client.DELETE('/accounts/{accountId}', { params: { path: { accountId: leaver.account.id } } }));

  t.same((await unwrap(anonymous.GET('/accounts/{accountId}/friends', { params: { path: { accountId: friend.account.id } } }))).data, []);
  t.same((await unwrap(asked.client.GET('/friend-requests'))).data, []);
  const rows = await agora.sql(
    `select (select count(*)::int from social.friendship where $1 in (account_id, friend_id)) as friendships,
            (select count(*)::int from social.friend_request where $1 in (sender_id, recipient_id)) as requests`,
    [leaver.account.id],
  );
  t.same(rows[0], { friendships: 0, requests: 0 });
});
