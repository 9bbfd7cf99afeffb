import t from 'tap';
import { ifMatch, unwrap } from 'agora-sdk';
import { startAgora } from './helpers/agora.ts';

const agora = await startAgora(t);
const [owner, member, stranger] = await Promise.all([agora.signUp(), agora.signUp(), agora.signUp()]);
const anonymous = agora.client();
const auth = (token: string) => ({ authorization: `Bearer ${token}` });

async function room(visibility: 'public' | 'private') {
  const channel = await unwrap(owner.client.POST('/channels', { body: { name: `${visibility} room`, visibility } }));
  await unwrap(owner.client.PUT('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: channel.id, accountId: member.account.id } } }));
  return channel;
}

t.test('channel posts stay inside their channel', async (t) => {
  const open = await room('public');
  const created = await member.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: open.id } }, body: { text: 'inside' } });
  t.equal(created.response.status, 201);
  t.equal(created.data!.channelId, open.id);
  t.equal(created.response.headers.get('location'), `/v1/posts/${created.data!.id}`);
  await unwrap(member.client.POST('/posts', { body: { text: 'outside' } }));

  const profile = await unwrap(anonymous.GET('/accounts/{accountId}/posts', { params: { path: { accountId: member.account.id } } }));
  t.same(profile.data.map((p) => p.text), ['outside'], "not on the author's profile");
  t.same((await unwrap(member.client.GET('/feed'))).data.map((p) => p.text), ['outside'], 'not in feeds');
  const inChannel = await unwrap(anonymous.GET('/channels/{channelId}/posts', { params: { path: { channelId: open.id } } }));
  t.same(inChannel.data.map((p) => p.text), ['inside'], 'anybody reads a public channel');

  const outsider = await stranger.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: open.id } }, body: { text: 'let me in' } });
  t.equal(outsider.response.status, 403, 'members only');
  t.equal((await anonymous.POST('/channels/{channelId}/posts', { params: { path: { channelId: open.id } }, body: { text: 'x' } })).response.status, 401);
  t.equal((await agora.raw('OPTIONS', `/v1/channels/${open.id}/posts`, { headers: auth(member.token) })).headers.get('allow'), 'GET, HEAD, POST, OPTIONS');
  t.equal((await agora.raw('OPTIONS', `/v1/channels/${open.id}/posts`, { headers: auth(stranger.token) })).headers.get('allow'), 'GET, HEAD, OPTIONS');
});

t.test('the posts of a private channel are invisible outside it', async (t) => {
  const secret = await room('private');
  const post = await unwrap(member.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: secret.id } }, body: { text: 'psst' } }));
  const path = { postId: post.id };
  for (const [who, client, status] of [['owner', owner.client, 200], ['member', member.client, 200], ['stranger', stranger.client, 404], ['anonymous', anonymous, 404]] as const) {
    t.equal((await client.GET('/channels/{channelId}/posts', { params: { path: { channelId: secret.id } } })).response.status, status, `${who} lists`);
    t.equal((await client.GET('/posts/{postId}', { params: { path } })).response.status, status, `${who} reads`);
  }
  t.equal((await agora.raw('OPTIONS', `/v1/posts/${post.id}`, { headers: auth(stranger.token) })).status, 404);
  t.equal((await agora.raw('OPTIONS', `/v1/channels/${secret.id}/posts`, { headers: auth(stranger.token) })).status, 404);
  t.equal((await stranger.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: secret.id } }, body: { text: 'x' } })).response.status, 404);
  t.equal((await stranger.client.PATCH('/posts/{postId}', { params: { path, header: { 'If-Match': ifMatch(0) } }, body: { text: 'x' } })).response.status, 404);
  t.equal((await stranger.client.DELETE('/posts/{postId}', { params: { path } })).response.status, 404);

  t.equal((await agora.raw('OPTIONS', `/v1/posts/${post.id}`, { headers: auth(owner.token) })).headers.get('allow'), 'GET, HEAD, DELETE, OPTIONS', 'the owner moderates');
  await unwrap(owner.client.DELETE('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: secret.id, accountId: member.account.id } } }));
  t.equal((await member.client.GET('/posts/{postId}', { params: { path } })).response.status, 404, 'a removed member loses sight of it');
});

t.test("the channel's owner may delete any post in it; deleting the channel deletes its posts", async (t) => {
  const open = await room('public');
  const first = await unwrap(member.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: open.id } }, body: { text: 'one' } }));
  const second = await unwrap(member.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: open.id } }, body: { text: 'two' } }));
  t.equal((await owner.client.PATCH('/posts/{postId}', { params: { path: { postId: first.id }, header: { 'If-Match': ifMatch(0) } }, body: { text: 'edited' } })).response.status, 403, 'but not edit it');
  t.equal((await owner.client.DELETE('/posts/{postId}', { params: { path: { postId: first.id } } })).response.status, 204);
  await unwrap(owner.client.DELETE('/channels/{channelId}', { params: { path: { channelId: open.id } } }));
  t.equal((await member.client.GET('/posts/{postId}', { params: { path: { postId: second.id } } })).response.status, 404);
  t.same(await agora.sql('select id from posts.post where channel_id = $1', [open.id]), []);
});
