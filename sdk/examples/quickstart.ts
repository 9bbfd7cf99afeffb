// The quickstart: sign up, sign in, post, read the feed page by page, update a post, and handle
// the errors a program meets. Run it against a server:
//   AGORA_BASE_URL=http://127.0.0.1:3000/v1 node quickstart.ts
// #region setup
import { createAgoraClient, ifMatch, unwrap, AgoraError, NotFoundError, PreconditionFailedError } from 'agora-sdk';

const baseUrl = process.env['AGORA_BASE_URL'] ?? 'http://127.0.0.1:3000/v1';
const agora = createAgoraClient({ baseUrl });
// #endregion setup

// #region sign-up
const handle = `quickstart_${Date.now().toString(36)}`;
const email = `${handle}@example.com`;
const password = 'correct horse battery staple';
// Sign up, then sign in and keep the token for later calls.
const account = await unwrap(agora.POST('/accounts', { body: { email, password, handle, displayName: 'Ada Lovelace' } }));
const { token } = await unwrap(agora.POST('/sessions', { body: { email, password } }));
agora.setToken(token); // or createAgoraClient({ baseUrl, token })
// #endregion sign-up
console.log(`signed up and in as @${account.handle}`);

// #region post
for (const text of ['Hello, Agora', 'A second post', 'A third post']) {
  await unwrap(agora.POST('/posts', { body: { text } }));
}
// #endregion post

// #region feed
// `paginate` follows `nextCursor` from page to page as the loop asks for more.
let seen = 0;
for await (const post of agora.paginate('/feed', { params: { query: { limit: 2 } } })) {
  console.log(`@${post.author.handle}: ${post.text}`);
  seen++;
}
// #endregion feed
if (seen < 3) throw new Error(`the feed showed ${seen} posts, expected at least 3`);

// #region update
// Updates are conditional: pass back the version you read.
const [latest] = (await unwrap(agora.GET('/accounts/{accountId}/posts', { params: { path: { accountId: account.id }, query: { limit: 1 } } }))).data;
if (!latest) throw new Error('no post to update');
const edited = await unwrap(
  agora.PATCH('/posts/{postId}', {
    params: { path: { postId: latest.id }, header: { 'If-Match': ifMatch(latest.version) } },
    body: { text: 'A third post, edited' },
  }),
);
console.log(`edited the post: version ${latest.version} → ${edited.version}`);
// #endregion update

// #region errors
// Failures are typed errors: one class per kind of problem.
try {
  // `latest.version` is stale now: someone (we) changed the post since.
  await unwrap(
    agora.PATCH('/posts/{postId}', {
      params: { path: { postId: latest.id }, header: { 'If-Match': ifMatch(latest.version) } },
      body: { text: 'Lost update' },
    }),
  );
  throw new Error('a stale update was accepted');
} catch (error) {
  if (!(error instanceof PreconditionFailedError)) throw error;
  console.log(`stale update refused; the current version is ${error.currentVersion}`);
}

try {
  await unwrap(agora.GET('/posts/{postId}', { params: { path: { postId: '00000000-0000-4000-8000-000000000000' } } }));
  throw new Error('a post that does not exist was found');
} catch (error) {
  if (error instanceof NotFoundError) console.log(`not found (request ${error.requestId})`);
  else if (error instanceof AgoraError) console.log(error.status, error.type, error.detail, error.errors);
  else throw error;
}
// #endregion errors

// #region stream
// Your live events as they happen (GET /stream). After a dropped connection it reconnects and
// resumes by itself (Last-Event-ID), so every event arrives once, in order.
const live = new AbortController(); // live.abort() ends it from elsewhere
for await (const event of agora.stream({ signal: live.signal })) {
  if (event.event === 'ready') console.log(`stream open at position ${event.id}`);
  break; // a real program keeps reading
}
// #endregion stream

// #region sign-out
await unwrap(agora.DELETE('/sessions/me'));
// #endregion sign-out
console.log('done');
