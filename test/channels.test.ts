import t from 'tap';
import { ifMatch, unwrap } from 'agora-sdk';
import { startAgora } from './helpers/agora.ts';
import { spec as agoraSpec, trimmedCharacters } from './helpers/contract.ts';

const agora = await startAgora(t);
const [owner, member, stranger] = await Promise.all([agora.signUp(), agora.signUp(), agora.signUp()]);
const anonymous = agora.client();

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

async function channel(visibility: 'public' | 'private', name = `${visibility} room`) {
  return unwrap(owner.client.POST('/channels', { body: { name, description: 'About things', visibility } }));
}

t.test('creating a channel makes its owner the first member', async (t) => {
  const created = await owner.client.POST('/channels', { body: { name: '  Engines  ', visibility: 'public' } });
  t.equal(created.response.status, 201);
  const made = created.data!;
  t.equal(created.response.headers.get('location'), `/v1/channels/${made.id}`);
  t.equal(created.response.headers.get('etag'), '"0"');
  t.match(made, { ownerId: owner.account.id, name: 'Engines', description: '', visibility: 'public', version: 0 });
  const members = await unwrap(anonymous.GET('/channels/{channelId}/members', { params: { path: { channelId: made.id } } }));
  t.same(members.data.map((m) => [m.account.id, m.role]), [[owner.account.id, 'owner']]);

  for (const body of [{ name: '   ', visibility: 'public' }, { name: 'x' }, { name: 'x', visibility: 'secret' }, { name: 'x', visibility: 'public', topic: 'y' }]) {
    const bad = await owner.client.POST('/channels', { body: body as never });
    t.equal(bad.response.status, 400, JSON.stringify(body));
  }
  t.equal((await anonymous.POST('/channels', { body: { name: 'x', visibility: 'public' } })).response.status, 401);
});

t.test('a private channel does not exist for anybody but its members', async (t) => {
  const open = await channel('public');
  const secret = await channel('private');
  await unwrap(owner.client.PUT('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: secret.id, accountId: member.account.id } } }));

  for (const [who, client, status] of [['owner', owner.client, 200], ['member', member.client, 200], ['stranger', stranger.client, 404], ['anonymous', anonymous, 404]] as const) {
    t.equal((await client.GET('/channels/{channelId}', { params: { path: { channelId: secret.id } } })).response.status, status, `${who} GET`);
    t.equal((await client.GET('/channels/{channelId}/members', { params: { path: { channelId: secret.id } } })).response.status, status, `${who} members`);
    t.equal((await client.GET('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: secret.id, accountId: owner.account.id } } })).response.status, status, `${who} member`);
    t.equal((await client.GET('/channels/{channelId}', { params: { path: { channelId: open.id } } })).response.status, 200, `${who} sees the public one`);
  }
  const hiddenOptions = await agora.raw('OPTIONS', `/v1/channels/${secret.id}`, { headers: auth(stranger.token) });
  t.equal(hiddenOptions.status, 404, 'OPTIONS hides it too');
  t.equal((await agora.raw('OPTIONS', `/v1/channels/${secret.id}/members`, { headers: auth(stranger.token) })).status, 404);
  t.equal((await agora.raw('OPTIONS', `/v1/channels/${secret.id}/members/${owner.account.id}`)).status, 404);
  const join = await stranger.client.PUT('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: secret.id, accountId: stranger.account.id } } });
  t.equal(join.response.status, 404, 'a private channel cannot be joined by those who cannot see it');
  const patch = await stranger.client.PATCH('/channels/{channelId}', { params: { path: { channelId: secret.id }, header: { 'If-Match': ifMatch(0) } }, body: { name: 'mine' } });
  t.equal(patch.response.status, 404);

  const listed = await unwrap(anonymous.GET('/channels', { params: { query: { limit: 100 } } }));
  t.ok(listed.data.some((c) => c.id === open.id), 'public channels are listed');
  t.notOk(listed.data.some((c) => c.id === secret.id), 'private ones never are');
});

t.test('the owner changes and deletes its channel, conditionally', async (t) => {
  const room = await channel('public');
  const path = { channelId: room.id };
  const noIfMatch = await owner.client.PATCH('/channels/{channelId}', { params: { path } as never, body: { name: 'Renamed' } });
  t.equal(noIfMatch.response.status, 428);
  const notOwner = await member.client.PATCH('/channels/{channelId}', { params: { path, header: { 'If-Match': ifMatch(0) } }, body: { name: 'Mine' } });
  t.equal(notOwner.response.status, 403);
  const changed = await owner.client.PATCH('/channels/{channelId}', { params: { path, header: { 'If-Match': ifMatch(0) } }, body: { name: 'Renamed', visibility: 'private' } });
  t.equal(changed.response.status, 200);
  t.match(changed.data, { name: 'Renamed', visibility: 'private', version: 1 });
  t.equal(changed.response.headers.get('etag'), '"1"');
  const stale = await owner.client.PATCH('/channels/{channelId}', { params: { path, header: { 'If-Match': ifMatch(0) } }, body: { description: 'x' } });
  t.equal(stale.response.status, 412);
  t.equal(stale.error!.currentVersion, 1);
  t.equal((await stranger.client.GET('/channels/{channelId}', { params: { path } })).response.status, 404, 'now private');

  const options = await agora.raw('OPTIONS', `/v1/channels/${room.id}`, { headers: auth(owner.token) });
  t.equal(options.headers.get('allow'), 'GET, HEAD, PATCH, DELETE, OPTIONS');

  t.equal((await owner.client.DELETE('/channels/{channelId}', { params: { path, header: { 'If-Match': ifMatch(0) } } })).response.status, 412);
  t.equal((await owner.client.DELETE('/channels/{channelId}', { params: { path, header: { 'If-Match': ifMatch(1) } } })).response.status, 204);
  t.equal((await owner.client.GET('/channels/{channelId}', { params: { path } })).response.status, 404);
  t.same(await agora.sql('select id from channels.membership where channel_id = $1', [room.id]), [], 'memberships went with it');

  const open = await channel('public');
  const forbidden = await stranger.client.DELETE('/channels/{channelId}', { params: { path: { channelId: open.id } } });
  t.equal(forbidden.response.status, 403);
  const strangerOptions = await agora.raw('OPTIONS', `/v1/channels/${open.id}`, { headers: auth(stranger.token) });
  t.equal(strangerOptions.headers.get('allow'), 'GET, HEAD, OPTIONS');
});

t.test('joining, adding, leaving and removing members', async (t) => {
  const open = await channel('public');
  const secret = await channel('private');
  const at = (channelId: string, accountId: string) => ({ params: { path: { channelId, accountId } } });

  const joined = await stranger.client.PUT('/channels/{channelId}/members/{accountId}', at(open.id, stranger.account.id));
  t.equal(joined.response.status, 201);
  t.equal(joined.response.headers.get('location'), `/v1/channels/${open.id}/members/${stranger.account.id}`);
  t.same(joined.data!.role, 'member');
  t.equal((await stranger.client.PUT('/channels/{channelId}/members/{accountId}', at(open.id, stranger.account.id))).response.status, 200, 'idempotent');
  t.equal((await stranger.client.PUT('/channels/{channelId}/members/{accountId}', at(open.id, member.account.id))).response.status, 403, 'nobody adds others but the owner');
  t.equal((await anonymous.PUT('/channels/{channelId}/members/{accountId}', at(open.id, stranger.account.id))).response.status, 401);

  t.equal((await owner.client.PUT('/channels/{channelId}/members/{accountId}', at(secret.id, member.account.id))).response.status, 201, 'the owner adds to a private channel');
  t.equal((await member.client.PUT('/channels/{channelId}/members/{accountId}', at(secret.id, stranger.account.id))).response.status, 403, 'members do not');
  t.equal((await owner.client.PUT('/channels/{channelId}/members/{accountId}', at(secret.id, '01a20a21-4c2b-7441-8746-a768807f76b6'))).response.status, 404, 'unknown account');

  const memberOptions = await agora.raw('OPTIONS', `/v1/channels/${secret.id}/members/${member.account.id}`, { headers: auth(member.token) });
  t.equal(memberOptions.headers.get('allow'), 'GET, HEAD, PUT, DELETE, OPTIONS');
  const ownerSelf = await agora.raw('OPTIONS', `/v1/channels/${secret.id}/members/${owner.account.id}`, { headers: auth(owner.token) });
  t.equal(ownerSelf.headers.get('allow'), 'GET, HEAD, PUT, OPTIONS', 'the owner cannot leave');
  const joinable = await agora.raw('OPTIONS', `/v1/channels/${open.id}/members/${member.account.id}`, { headers: auth(member.token) });
  t.equal(joinable.headers.get('allow'), 'GET, HEAD, PUT, OPTIONS');

  t.equal((await stranger.client.DELETE('/channels/{channelId}/members/{accountId}', at(open.id, owner.account.id))).response.status, 403);
  t.equal((await owner.client.DELETE('/channels/{channelId}/members/{accountId}', at(open.id, owner.account.id))).response.status, 409);
  t.equal((await stranger.client.DELETE('/channels/{channelId}/members/{accountId}', at(open.id, stranger.account.id))).response.status, 204, 'left');
  t.equal((await stranger.client.DELETE('/channels/{channelId}/members/{accountId}', at(open.id, stranger.account.id))).response.status, 404, 'already gone');
  t.equal((await anonymous.GET('/channels/{channelId}/members/{accountId}', at(open.id, stranger.account.id))).response.status, 404);
  t.equal((await owner.client.DELETE('/channels/{channelId}/members/{accountId}', at(secret.id, member.account.id))).response.status, 204, 'removed');
  t.equal((await member.client.GET('/channels/{channelId}', { params: { path: { channelId: secret.id } } })).response.status, 404, 'and cannot see it anymore');
});

t.test('channel lists page and options answer for the caller', async (t) => {
  const crowd = await channel('public', 'crowd');
  const joiners = await Promise.all([agora.signUp(), agora.signUp(), agora.signUp()]);
  for (const j of joiners) await unwrap(j.client.PUT('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: crowd.id, accountId: j.account.id } } }));
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await unwrap(anonymous.GET('/channels/{channelId}/members', { params: { path: { channelId: crowd.id }, query: { limit: 2, sort: 'createdAt', ...(cursor ? { cursor } : {}) } } }));
    seen.push(...page.data.map((m) => m.account.id));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  t.same(seen, [owner.account.id, ...joiners.map((j) => j.account.id)], 'oldest first, each once');

  t.equal((await agora.raw('OPTIONS', '/v1/channels')).headers.get('allow'), 'GET, HEAD, OPTIONS');
  t.equal((await agora.raw('OPTIONS', '/v1/channels', { headers: auth(stranger.token) })).headers.get('allow'), 'GET, HEAD, POST, OPTIONS');
  t.equal((await agora.raw('OPTIONS', `/v1/channels/${crowd.id}/members`)).headers.get('allow'), 'GET, HEAD, OPTIONS');
  const badCursor = await anonymous.GET('/channels', { params: { query: { cursor: 'bm9wZQ' } } });
  t.equal(badCursor.response.status, 400);
  t.equal(badCursor.error!.errors?.[0]?.pointer, 'query/cursor');
});

t.test("closing an account deletes its channels and memberships", async (t) => {
  const leaver = await agora.signUp();
  const own = await unwrap(leaver.client.POST('/channels', { body: { name: 'mine', visibility: 'public' } }));
  const other = await channel('public');
  await unwrap(leaver.client.PUT('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: other.id, accountId: leaver.account.id } } }));
  await unwrap(leaver.client.DELETE('/accounts/{accountId}', { params: { path: { accountId: leaver.account.id } } }));
  t.equal((await anonymous.GET('/channels/{channelId}', { params: { path: { channelId: own.id } } })).response.status, 404);
  const members = await unwrap(anonymous.GET('/channels/{channelId}/members', { params: { path: { channelId: other.id } } }));
  t.same(members.data.map((m) => m.account.id), [owner.account.id]);
  t.same(await agora.sql('select id from channels.membership where account_id = $1', [leaver.account.id]), []);
});

t.test('channel names lose exactly the surrounding white space the spec lists; descriptions are kept as sent', async (t) => {
  t.match(agoraSpec.components.schemas.ChannelName.description, /Leading and trailing white space is removed[^.]*as for a display name/);
  const around = trimmedCharacters('DisplayName').join('');
  const kept = '\u200B\u2060';
  const created = await unwrap(owner.client.POST('/channels', { body: { name: `${around}The  Engines${around}`, description: `${around}about${around}`, visibility: 'public' } }));
  t.equal(created.name, 'The  Engines', 'the ends only');
  t.equal(created.description, `${around}about${around}`, 'a description is stored as sent');
  const patched = await unwrap(
    owner.client.PATCH('/channels/{channelId}', { params: { path: { channelId: created.id }, header: { 'If-Match': ifMatch(0) } }, body: { name: `${around}${kept}x${kept}${around}` } }),
  );
  t.equal(patched.name, `${kept}x${kept}`, 'a patch trims the listed characters and keeps the others');
  const [row] = await agora.sql('select name, description from channels.channel where id = $1', [created.id]);
  t.same(row, { name: patched.name, description: created.description }, 'stored as the responses say');
  const read = await unwrap(anonymous.GET('/channels/{channelId}', { params: { path: { channelId: created.id } } }));
  t.equal(read.name, patched.name, 'a read agrees with the write');
});
