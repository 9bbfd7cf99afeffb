// The clean-ups of deletions (`DomainEvents.cleanUp`, src/services/events.ts): closing an account
// or deleting a channel removes what other domains keep of it before the request answers, and
// the deletion enqueues, in its own transaction, a job per consuming domain that does it again.
// Here the instance runs no worker (WORKER=off), so the jobs wait where the deletion left them;
// a second instance, a worker, then runs them: a clean-up done twice changes nothing more, and
// what the in-process clean-up could not see (a row written after it) is removed by the job.
import t from 'tap';
import { unwrap } from 'agora-sdk';
import { startAgora } from './helpers/agora.ts';
import { eventually } from './helpers/locks.ts';

const api = await startAgora(t, { WORKER: 'off' }, { jobs: true });

type Person = Awaited<ReturnType<typeof api.signUp>>;
const count = async (sql: string, params: unknown[]) => (await api.sql<{ n: number }>(`select count(*)::int as n from ${sql}`, params))[0]!.n;
const jobsOf = (event: string, key: string, id: string) =>
  api.sql<{ name: string; state: string }>(`select name, state::text from pgboss.job where data->>'event' = $1 and data->'payload'->>$2 = $3 order by name`, [event, key, id]);
const befriend = async (a: Person, b: Person) => {
  await unwrap(a.client.POST('/friend-requests', { body: { accountId: b.account.id } }));
  await unwrap(b.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: b.account.id, friendId: a.account.id } } }));
};

t.test("closing an account: its traces in other domains go at once, and a job per consuming domain is enqueued with the deletion", async (t) => {
  const [gone, friend, other] = await Promise.all([api.signUp(), api.signUp(), api.signUp()]);
  await befriend(gone, friend);
  await unwrap(gone.client.POST('/posts', { body: { text: 'a post of an account soon closed' } }));
  const channel = await unwrap(gone.client.POST('/channels', { body: { name: 'soon gone', visibility: 'public' } }));
  await unwrap(gone.client.POST('/channels/{channelId}/posts', { params: { path: { channelId: channel.id } }, body: { text: 'in its channel' } }));
  await unwrap(other.client.PUT('/channels/{channelId}/members/{accountId}', { params: { path: { channelId: channel.id, accountId: other.account.id } } }));
  t.equal(await count('posts.post where author_id = $1', [gone.account.id]), 2);

  const closed = await gone.client.DELETE('/accounts/{accountId}', { params: { path: { accountId: gone.account.id } } });
  t.equal(closed.response.status, 204);
  t.equal(await count('posts.post where author_id = $1', [gone.account.id]), 0, 'its posts are gone when the request answers');
  t.equal(await count('social.friendship where account_id = $1 or friend_id = $1', [gone.account.id]), 0, 'its friendships too');
  t.equal(await count('channels.channel where id = $1', [channel.id]), 0, 'its channel too');
  t.equal(await count('channels.membership where channel_id = $1', [channel.id]), 0, "and the channel's memberships");

  t.same(
    await jobsOf('account.closed', 'accountId', gone.account.id),
    ['channels', 'messages', 'notifications', 'posts', 'social', 'timelines'].map((domain) => ({ name: `events.${domain}`, state: 'created' })),
    'one job per consuming domain, waiting for a worker',
  );
  // Its channel's deletion is itself a clean-up's, with jobs of its own.
  const deletedChannels = await api.sql<{ name: string }>(
    `select name from pgboss.job where data->>'event' = 'channels.deleted' and data->'payload'->'channelIds' ? $1 order by name`,
    [channel.id],
  );
  t.same(deletedChannels.map((j) => j.name), ['events.notifications', 'events.posts'], "the channel's clean-ups were enqueued as well");
});

t.test('deleting a post or a message, or a channel, enqueues its clean-up with it; deleting nothing enqueues nothing', async (t) => {
  const [ada, bob] = await Promise.all([api.signUp(), api.signUp()]);
  await befriend(ada, bob);
  const post = await unwrap(ada.client.POST('/posts', { body: { text: `hello @${bob.account.handle}` } }));
  t.equal((await ada.client.DELETE('/posts/{postId}', { params: { path: { postId: post.id } } })).response.status, 204);
  t.same(await jobsOf('post.deleted', 'postId', post.id), [{ name: 'events.notifications', state: 'created' }]);
  t.equal((await ada.client.DELETE('/posts/{postId}', { params: { path: { postId: post.id } } })).response.status, 404);
  t.equal((await jobsOf('post.deleted', 'postId', post.id)).length, 1, 'a deletion of nothing (404) enqueues nothing');

  const conversation = await unwrap(ada.client.POST('/conversations', { body: { participantIds: [bob.account.id] } }));
  const message = await unwrap(ada.client.POST('/conversations/{conversationId}/messages', { params: { path: { conversationId: conversation.id } }, body: { text: 'soon gone' } }));
  await unwrap(ada.client.DELETE('/conversations/{conversationId}/messages/{messageId}', { params: { path: { conversationId: conversation.id, messageId: message.id } } }));
  t.same(await jobsOf('message.deleted', 'messageId', message.id), [{ name: 'events.notifications', state: 'created' }]);

  const channel = await unwrap(ada.client.POST('/channels', { body: { name: 'deleted by its owner', visibility: 'public' } }));
  const stale = await ada.client.DELETE('/channels/{channelId}', { params: { path: { channelId: channel.id }, header: { 'If-Match': '"7"' } } });
  t.equal(stale.response.status, 412);
  await unwrap(ada.client.DELETE('/channels/{channelId}', { params: { path: { channelId: channel.id } } }));
  const jobs = await api.sql<{ name: string }>(`select name from pgboss.job where data->>'event' = 'channels.deleted' and data->'payload'->'channelIds' ? $1 order by name`, [channel.id]);
  t.same(jobs.map((j) => j.name), ['events.notifications', 'events.posts'], 'once, for the deletion that took place (412: none)');
});

t.test("a worker runs the waiting clean-ups: done twice changes nothing more, and what came after the in-process one is removed", async (t) => {
  const [gone, friend] = await Promise.all([api.signUp(), api.signUp()]);
  await befriend(gone, friend);
  await unwrap(friend.client.POST('/posts', { body: { text: 'staying' } }));
  await unwrap(gone.client.DELETE('/accounts/{accountId}', { params: { path: { accountId: gone.account.id } } }));
  // A friend request to the closed account, committed after its clean-up ran (a write racing the
  // deletion: the social domain keeps no reference to the accounts table).
  await api.sql(
    `insert into social.friend_request (id, sender_id, recipient_id, created_at) values (gen_random_uuid(), $1, $2, now())`,
    [friend.account.id, gone.account.id],
  );
  t.equal(await count('social.friend_request where recipient_id = $1', [gone.account.id]), 1);
  // And a channel of the closed account's, likewise: its clean-up (channels) deletes in turn, and
  // publishes that deletion's clean-ups, from the worker's first moments on.
  const [late] = await api.sql<{ id: string }>(
    `insert into channels.channel (id, owner_id, name, description, visibility, created_at, updated_at, version)
     values (gen_random_uuid(), $1, 'created late', '', 'public', now(), now(), 0) returning id`,
    [gone.account.id],
  );
  const posts = await count('posts.post', []);

  const worker = await startAgora(t, {}, { jobs: true, databaseUrl: api.databaseUrl });
  const done = async () => (await api.sql<{ n: number }>(`select count(*)::int as n from pgboss.job where name like 'events.%' and state < 'completed'`))[0]!.n === 0;
  await eventually('every clean-up job run', async () => ((await done()) ? true : undefined), 30_000);
  t.same(
    await jobsOf('account.closed', 'accountId', gone.account.id),
    ['channels', 'messages', 'notifications', 'posts', 'social', 'timelines'].map((domain) => ({ name: `events.${domain}`, state: 'completed' })),
  );
  t.equal(await count('social.friend_request where recipient_id = $1', [gone.account.id]), 0, "the job removed the request the in-process clean-up could not see");
  t.equal(await count('channels.channel where id = $1', [late!.id]), 0, 'and the channel');
  const lateJobs = await api.sql<{ name: string; state: string }>(
    `select name, state::text from pgboss.job where data->>'event' = 'channels.deleted' and data->'payload'->'channelIds' ? $1 order by name`,
    [late!.id],
  );
  t.same(lateJobs, [{ name: 'events.notifications', state: 'completed' }, { name: 'events.posts', state: 'completed' }], "whose deletion's clean-ups were enqueued by the job, and ran");
  t.notOk(worker.logs.some((l) => l.msg === 'a domain event consumer failed; will retry'), 'no job failed, not even at the start');
  t.equal(await count('posts.post', []), posts, "no other post was touched");
  t.notOk(worker.logs.some((l) => l.level >= 50), 'the worker logged no error');
});
