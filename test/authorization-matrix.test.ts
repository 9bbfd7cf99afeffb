// OWASP API1/API5: every operation that takes an id, tried as the resource's owner, as another
// signed-in account and anonymously. The other account and the anonymous caller go first, so
// the owner's (possibly destructive) call comes last and proves the resource was still there.
import t from 'tap';
import { unwrap } from 'agora-sdk';
import { startAgora } from './helpers/agora.ts';

// With a job queue and a worker: the notification rows below need one made by a consumer.
const agora = await startAgora(t, {}, { jobs: true, jobTuning: { pollingIntervalSeconds: 0.5 } });
const [owner, other, friend, third] = await Promise.all([agora.signUp(), agora.signUp(), agora.signUp(), agora.signUp()]);
const O = owner.account.id;
const F = friend.account.id;
const Q = third.account.id;

await unwrap(owner.client.POST('/friend-requests', { body: { accountId: F } }));
await unwrap(friend.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: F, friendId: O } } }));
// The acceptance notifies the owner asynchronously (a job): wait for it, generously.
for (const deadline = Date.now() + 20_000; (await unwrap(owner.client.GET('/notifications'))).data.length === 0; ) {
  if (Date.now() > deadline) throw new Error("the owner's notification did not arrive");
  await new Promise((resolve) => setTimeout(resolve, 20));
}

const newPost = async () => (await unwrap(owner.client.POST('/posts', { body: { text: 'mine' } }))).id;
const newChannel = async (visibility: 'public' | 'private') => (await unwrap(owner.client.POST('/channels', { body: { name: visibility, visibility } }))).id;
const newChannelPost = async (channelId: string) =>
  (await unwrap(owner.client.POST('/channels/{channelId}/posts', { params: { path: { channelId } }, body: { text: 'inside' } }))).id;
const addMember = async (channelId: string, accountId: string) => {
  await unwrap(owner.client.PUT('/channels/{channelId}/members/{accountId}', { params: { path: { channelId, accountId } } }));
};

const post = await newPost();
// A conversation between the owner and its friend, with one message by the owner.
const conversation = (await unwrap(owner.client.POST('/conversations', { body: { participantIds: [F] } }))).id;
const newMessage = async () =>
  (await unwrap(owner.client.POST('/conversations/{conversationId}/messages', { params: { path: { conversationId: conversation } }, body: { text: 'between us' } }))).id;
const message = await newMessage();
const open = await newChannel('public');
const secret = await newChannel('private');
const secretPost = await newChannelPost(secret);

type Expect = [owner: number, other: number, anonymous: number];
interface Row {
  method: string;
  /** The path, or a setup that creates what the call needs and returns the path. */
  path: string | (() => Promise<string>);
  /** The path template, for a row whose path comes from its setup. */
  name?: string;
  body?: unknown;
  /** Sends `If-Match: *` (PATCH always does). */
  ifMatch?: boolean;
  expect: Expect;
}

const JSON_BODY = { text: 'changed' };
const rows: Row[] = [
  // accounts
  { method: 'GET', path: `/v1/accounts/${O}`, expect: [200, 200, 200] },
  { method: 'PATCH', path: `/v1/accounts/${O}`, body: { bio: 'x' }, expect: [200, 403, 401] },
  { method: 'OPTIONS', path: `/v1/accounts/${O}`, expect: [204, 204, 204] },
  // a conversation: 404 to anybody not in it (before the friendship rows: one unfriends F)
  { method: 'POST', path: '/v1/conversations', body: { participantIds: [F] }, expect: [200, 403, 401] },
  { method: 'GET', path: `/v1/conversations/${conversation}`, expect: [200, 404, 401] },
  { method: 'OPTIONS', path: `/v1/conversations/${conversation}`, expect: [204, 404, 401] },
  { method: 'GET', path: `/v1/conversations/${conversation}/messages`, expect: [200, 404, 401] },
  { method: 'POST', path: `/v1/conversations/${conversation}/messages`, body: { text: 'hello' }, expect: [201, 404, 401] },
  { method: 'OPTIONS', path: `/v1/conversations/${conversation}/messages`, expect: [204, 404, 401] },
  { method: 'GET', path: `/v1/conversations/${conversation}/messages/${message}`, expect: [200, 404, 401] },
  { method: 'OPTIONS', path: `/v1/conversations/${conversation}/messages/${message}`, expect: [204, 404, 401] },
  { method: 'DELETE', name: '/conversations/{conversationId}/messages/{messageId}', path: async () => `/v1/conversations/${conversation}/messages/${await newMessage()}`, expect: [204, 404, 401] },
  { method: 'GET', path: `/v1/conversations/${conversation}/marker`, expect: [200, 404, 401] },
  { method: 'PUT', path: `/v1/conversations/${conversation}/marker`, body: { lastReadMessageId: message }, ifMatch: true, expect: [200, 404, 401] },
  { method: 'OPTIONS', path: `/v1/conversations/${conversation}/marker`, expect: [204, 404, 401] },
  // friend requests: the owner is the sender
  { method: 'GET', name: '/friend-requests/{requestId}', path: async () => `/v1/friend-requests/${(await unwrap(owner.client.POST('/friend-requests', { body: { accountId: Q } }))).id}`, expect: [200, 404, 401] },
  { method: 'OPTIONS', name: '/friend-requests/{requestId}', path: async () => `/v1/friend-requests/${(await unwrap(owner.client.GET('/friend-requests', { params: { query: { direction: 'outgoing' } } }))).data[0]!.id}`, expect: [204, 404, 401] },
  { method: 'DELETE', name: '/friend-requests/{requestId}', path: async () => `/v1/friend-requests/${(await unwrap(owner.client.GET('/friend-requests', { params: { query: { direction: 'outgoing' } } }))).data[0]!.id}`, expect: [204, 404, 401] },
  // friendships: the owner is the account whose friends they are
  { method: 'GET', path: `/v1/accounts/${O}/friends`, expect: [200, 200, 200] },
  { method: 'OPTIONS', path: `/v1/accounts/${O}/friends`, expect: [204, 204, 204] },
  { method: 'GET', path: `/v1/accounts/${O}/friends/${F}`, expect: [200, 200, 200] },
  { method: 'OPTIONS', path: `/v1/accounts/${O}/friends/${F}`, expect: [204, 204, 204] },
  {
    method: 'PUT',
    name: '/accounts/{accountId}/friends/{friendId}',
    path: async () => {
      await unwrap(third.client.POST('/friend-requests', { body: { accountId: O } }));
      return `/v1/accounts/${O}/friends/${Q}`;
    },
    expect: [201, 403, 401],
  },
  { method: 'DELETE', path: `/v1/accounts/${O}/friends/${F}`, expect: [204, 403, 401] },
  // posts
  { method: 'GET', path: `/v1/posts/${post}`, expect: [200, 200, 200] },
  { method: 'PATCH', path: `/v1/posts/${post}`, body: JSON_BODY, expect: [200, 403, 401] },
  { method: 'OPTIONS', path: `/v1/posts/${post}`, expect: [204, 204, 204] },
  { method: 'DELETE', name: '/posts/{postId}', path: async () => `/v1/posts/${await newPost()}`, expect: [204, 403, 401] },
  { method: 'GET', path: `/v1/accounts/${O}/posts`, expect: [200, 200, 200] },
  { method: 'OPTIONS', path: `/v1/accounts/${O}/posts`, expect: [204, 204, 204] },
  // a post in a private channel
  { method: 'GET', path: `/v1/posts/${secretPost}`, expect: [200, 404, 404] },
  { method: 'PATCH', path: `/v1/posts/${secretPost}`, body: JSON_BODY, expect: [200, 404, 401] },
  { method: 'OPTIONS', path: `/v1/posts/${secretPost}`, expect: [204, 404, 404] },
  { method: 'DELETE', name: '/posts/{postId} (in a private channel)', path: async () => `/v1/posts/${await newChannelPost(secret)}`, expect: [204, 404, 401] },
  // notifications: the owner's own (its accepted friend request told it)
  { method: 'OPTIONS', name: '/notifications/{notificationId}', path: async () => `/v1/notifications/${(await unwrap(owner.client.GET('/notifications'))).data[0]!.id}`, expect: [204, 404, 401] },
  { method: 'DELETE', name: '/notifications/{notificationId}', path: async () => `/v1/notifications/${(await unwrap(owner.client.GET('/notifications'))).data[0]!.id}`, expect: [204, 404, 401] },
];

for (const [label, channel, hidden] of [['public', open, false], ['private', secret, true]] as const) {
  // What a stranger gets where a member would read: the private channel does not exist for it.
  const read = hidden ? 404 : 200;
  const see = hidden ? 404 : 204;
  const write = hidden ? 404 : 403;
  rows.push(
    { method: 'GET', path: `/v1/channels/${channel}`, expect: [200, read, read] },
    { method: 'PATCH', path: `/v1/channels/${channel}`, body: { description: label }, expect: [200, write, 401] },
    { method: 'OPTIONS', path: `/v1/channels/${channel}`, expect: [204, see, see] },
    { method: 'DELETE', name: `/channels/{channelId} (${label})`, path: async () => `/v1/channels/${await newChannel(label)}`, expect: [204, write, 401] },
    { method: 'GET', path: `/v1/channels/${channel}/members`, expect: [200, read, read] },
    { method: 'OPTIONS', path: `/v1/channels/${channel}/members`, expect: [204, see, see] },
    { method: 'GET', path: `/v1/channels/${channel}/members/${O}`, expect: [200, read, read] },
    { method: 'OPTIONS', path: `/v1/channels/${channel}/members/${O}`, expect: [204, see, see] },
    { method: 'PUT', path: `/v1/channels/${channel}/members/${Q}`, expect: [201, write, 401] },
    {
      method: 'DELETE',
      name: `/channels/{channelId}/members/{accountId} (${label})`,
      path: async () => {
        await addMember(channel, F);
        return `/v1/channels/${channel}/members/${F}`;
      },
      expect: [204, write, 401],
    },
    { method: 'POST', path: `/v1/channels/${channel}/posts`, body: { text: 'hello' }, expect: [201, write, 401] },
    { method: 'GET', path: `/v1/channels/${channel}/posts`, expect: [200, read, read] },
    { method: 'OPTIONS', path: `/v1/channels/${channel}/posts`, expect: [204, see, see] },
  );
}

// Last, as it takes the owner's account away.
rows.push({ method: 'DELETE', path: `/v1/accounts/${O}`, expect: [204, 403, 401] });

const idNames = new Map<string, string>([[O, '{O}'], [F, '{F}'], [Q, '{Q}'], [post, '{post}'], [conversation, '{conversation}'], [message, '{message}'], [open, '{public}'], [secret, '{private}'], [secretPost, '{privatePost}']]);
for (const row of rows) {
  const name = row.name ?? (row.path as string).slice(3).replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, (id) => idNames.get(id) ?? '{id}');
  t.test(`${row.method} ${name}`, async (t) => {
    const path = typeof row.path === 'string' ? row.path : await row.path();
    const callers = [['other', other.token], ['anonymous', undefined], ['owner', owner.token]] as const;
    const expected = { owner: row.expect[0], other: row.expect[1], anonymous: row.expect[2] };
    for (const [who, token] of callers) {
      const headers: Record<string, string> = {};
      if (token) headers.authorization = `Bearer ${token}`;
      if (row.body !== undefined) headers['content-type'] = 'application/json';
      if (row.method === 'PATCH' || row.ifMatch) headers['if-match'] = '*';
      const res = await agora.raw(row.method, path, { headers, body: row.body === undefined ? undefined : JSON.stringify(row.body) });
      t.equal(res.status, expected[who], `${who}: ${res.json?.detail ?? res.status}`);
    }
  });
}
