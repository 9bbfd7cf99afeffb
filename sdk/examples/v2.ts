// Version 2 of the posts beside version 1: sign up and in through v1, then post, page the feed
// and edit through v2 with the same token. Run it against a server:
//   AGORA_BASE_URL=http://127.0.0.1:3000/v1 node v2.ts
// (v2's base URL is v1's with /v2 for /v1, or AGORA_V2_BASE_URL).
// #region setup
import { createAgoraClient, createAgoraV2Client, ifMatch, unwrap, NotFoundError, PreconditionFailedError, type PostV2 } from 'agora-sdk';

const baseUrl = process.env['AGORA_BASE_URL'] ?? 'http://127.0.0.1:3000/v1';
const v1 = createAgoraClient({ baseUrl });
// v2 serves the posts family: /posts, /posts/{postId}, /feed, /accounts/{accountId}/posts and
// /channels/{channelId}/posts. Accounts, sessions, friends and channels stay in v1.
const v2 = createAgoraV2Client({ baseUrl: process.env['AGORA_V2_BASE_URL'] ?? baseUrl.replace(/\/v1$/, '/v2') });
// #endregion setup

// #region token
// A session from v1 works on both versions.
const handle = `v2example_${Date.now().toString(36)}`;
const email = `${handle}@example.com`;
const password = 'correct horse battery staple';
const account = await unwrap(v1.POST('/accounts', { body: { email, password, handle, displayName: 'Grace Hopper' } }));
const { token } = await unwrap(v1.POST('/sessions', { body: { email, password } }));
v1.setToken(token);
v2.setToken(token);
// #endregion token
console.log(`signed up and in as @${account.handle}`);

// #region post
// Creating calls carry an Idempotency-Key (made for you), so a retry never posts twice.
const posts: PostV2[] = [];
for (const text of ['First through v2', 'Second through v2', 'Third through v2']) {
  posts.push(await unwrap(v2.POST('/posts', { body: { text } })));
}
// A v2 post has no `authorId`: its author is `post.author`.
const [first] = posts;
if (!first) throw new Error('nothing was posted');
console.log(`posted ${posts.length} posts as @${first.author.handle}`);
// #endregion post

// #region feed
// A v2 list is `{ data, next }`: `paginate` follows `next` from page to page as the loop asks
// for more, keeping the first request's filters, sort and limit.
let seen = 0;
for await (const post of v2.paginate('/feed', { params: { query: { limit: 2 } } })) {
  console.log(`@${post.author.handle}: ${post.text}`);
  seen++;
}
// #endregion feed
if (seen < 3) throw new Error(`the feed showed ${seen} posts, expected at least 3`);

// #region pages
// Whole pages, oldest first: `next` is null on the last one.
for await (const page of v2.pages('/accounts/{accountId}/posts', { params: { path: { accountId: account.id }, query: { sort: 'createdAt', limit: 2 } } })) {
  console.log(`a page of ${page.data.length}, next: ${page.next ?? 'none'}`);
}
// #endregion pages

// #region update
const edited = await unwrap(
  v2.PATCH('/posts/{postId}', {
    params: { path: { postId: first.id }, header: { 'If-Match': ifMatch(first.version) } },
    body: { text: 'First through v2, edited' },
  }),
);
console.log(`edited the post: version ${first.version} → ${edited.version}`);
try {
  await unwrap(
    v2.PATCH('/posts/{postId}', {
      params: { path: { postId: first.id }, header: { 'If-Match': ifMatch(first.version) } },
      body: { text: 'Lost update' },
    }),
  );
  throw new Error('a stale update was accepted');
} catch (error) {
  if (!(error instanceof PreconditionFailedError)) throw error;
  console.log(`stale update refused; the current version is ${error.currentVersion}`);
}
// #endregion update

// #region both
// The same post through v1, which still shows `authorId`; deleted through one, gone from both.
const viaV1 = await unwrap(v1.GET('/posts/{postId}', { params: { path: { postId: first.id } } }));
console.log(`through v1: "${viaV1.text}" by ${viaV1.authorId === account.id ? 'me' : viaV1.authorId}`);
await unwrap(v1.DELETE('/posts/{postId}', { params: { path: { postId: first.id } } }));
try {
  await unwrap(v2.GET('/posts/{postId}', { params: { path: { postId: first.id } } }));
  throw new Error('a deleted post was found');
} catch (error) {
  if (!(error instanceof NotFoundError)) throw error;
  console.log(`deleted through v1, not found through v2 (request ${error.requestId})`);
}
// #endregion both

await unwrap(v1.DELETE('/sessions/me'));
console.log('done');
