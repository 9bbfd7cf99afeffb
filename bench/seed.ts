// Seeds the benchmark's data set straight into Agora's tables with set-based SQL
// (generate_series), in seconds. Ids are UUIDv7-shaped and made from each row's created_at,
// so id order matches time order as it does for rows the product writes.
import { randomBytes, createHash } from 'node:crypto';
import type pg from 'pg';
import { hashPassword } from '../src/services/accounts/passwords.ts';

export interface Scale {
  accounts: number;
  /** Friends per account, each friendship stored once per side as the social domain does. */
  friendsPerAccount: number;
  posts: number;
  /** Posts seeded before the "feed at a small data set" measurement; the rest come after. */
  firstPosts: number;
  channels: number;
  /** Members per channel, owner included; channel posts are written by them. */
  membersPerChannel: number;
  /** Share of the posts written in channels (the rest are general posts). */
  channelShare: number;
  sessions: number;
  /** Two-person conversations each account starts, with its next friends (i+1 … i+c). */
  conversationsPerAccount: number;
  messagesPerConversation: number;
  notificationsPerAccount: number;
  /** Live streams held open by `stream-fanout` and `stream-memory`, one account each. */
  streams: number;
  /** Accounts with `wideFriends` friends each (`feed-1000-friends`), spread over the accounts. */
  wideAccounts: number;
  wideFriends: number;
}

export const SCALES: Record<string, Scale> = {
  smoke: { accounts: 200, friendsPerAccount: 20, posts: 5_000, firstPosts: 1_000, channels: 5, membersPerChannel: 10, channelShare: 0.2, sessions: 100, conversationsPerAccount: 1, messagesPerConversation: 5, notificationsPerAccount: 10, streams: 20, wideAccounts: 2, wideFriends: 150 },
  small: { accounts: 1_000, friendsPerAccount: 50, posts: 50_000, firstPosts: 10_000, channels: 10, membersPerChannel: 20, channelShare: 0.2, sessions: 500, conversationsPerAccount: 2, messagesPerConversation: 20, notificationsPerAccount: 50, streams: 1_000, wideAccounts: 5, wideFriends: 900 },
  default: { accounts: 10_000, friendsPerAccount: 50, posts: 1_000_000, firstPosts: 10_000, channels: 200, membersPerChannel: 20, channelShare: 0.2, sessions: 1_000, conversationsPerAccount: 2, messagesPerConversation: 50, notificationsPerAccount: 100, streams: 1_000, wideAccounts: 5, wideFriends: 1_000 },
  large: { accounts: 50_000, friendsPerAccount: 50, posts: 5_000_000, firstPosts: 10_000, channels: 1_000, membersPerChannel: 20, channelShare: 0.2, sessions: 2_000, conversationsPerAccount: 2, messagesPerConversation: 50, notificationsPerAccount: 100, streams: 1_000, wideAccounts: 5, wideFriends: 1_000 },
};

export const PASSWORD = 'bench-password-1';

export function email(i: number): string {
  return `user${i}@bench.example`;
}

export interface Session {
  token: string;
  accountId: string;
}

/**
 * For the messages scenarios: each session's conversations (every account is in some), as the
 * session's token and the conversation's id.
 */
export async function conversationsOfSessions(client: pg.Client, sessions: readonly Session[]): Promise<{ token: string; conversationId: string }[]> {
  const tokenOf = new Map(sessions.map((s) => [s.accountId, s.token]));
  const { rows } = await client.query<{ account_id: string; conversation_id: string }>(
    'select account_id, conversation_id from messages.participant where account_id = any($1::uuid[]) order by account_id, conversation_id',
    [sessions.map((s) => s.accountId)],
  );
  const found = rows.map((r) => ({ token: tokenOf.get(r.account_id)!, conversationId: r.conversation_id }));
  if (found.length === 0) throw new Error('no seeded conversation has a participant with a session');
  return found;
}

// pg_temp functions live as long as the seeding connection.
const UUID7 = `
create or replace function pg_temp.uuid7(ts timestamptz) returns uuid language sql volatile as $$
  select (lpad(to_hex((extract(epoch from ts) * 1000)::bigint), 12, '0')
          || '7' || substr(md5(random()::text), 1, 3)
          || to_hex(8 + floor(random() * 4)::int) || substr(md5(random()::text), 1, 15))::uuid
$$`;

/** Accounts, friendships, channels with members, sessions, and the first `firstPosts` posts. */
export async function seedBase(client: pg.Client, scale: Scale): Promise<Session[]> {
  const passwordHash = await hashPassword(PASSWORD); // once, with the product's parameters
  await client.query(UUID7);
  await client.query(`create table public.bench_account (i int primary key, id uuid not null)`);
  await client.query(
    `insert into public.bench_account (i, id)
     select i, pg_temp.uuid7(now() - interval '800 days' + i * interval '1 second') from generate_series(0, $1::int - 1) i`,
    [scale.accounts],
  );
  await client.query(
    `insert into accounts.account (id, email, handle, handle_key, display_name, bio, password_hash, created_at, updated_at, version)
     select b.id, 'user' || b.i || '@bench.example', 'user' || b.i, 'user' || b.i, 'User ' || b.i, null, $1,
            now() - interval '800 days' + b.i * interval '1 second', now() - interval '800 days' + b.i * interval '1 second', 0
       from public.bench_account b`,
    [passwordHash],
  );
  // Account i befriends i+1 … i+k (mod n): everyone ends with 2k friends, one row per side.
  const k = Math.min(Math.floor(scale.friendsPerAccount / 2), Math.floor((scale.accounts - 1) / 2));
  await client.query(
    `insert into social.friendship (id, account_id, friend_id, created_at)
     select pg_temp.uuid7(t), side.a, side.b, t
       from generate_series(0, $1::int - 1) s(n)
       cross join generate_series(1, $2::int) d(k)
       join public.bench_account x on x.i = s.n
       join public.bench_account y on y.i = (s.n + d.k) % $1::int
       cross join lateral (select now() - interval '700 days' + (s.n * $2::int + d.k) * interval '1 second' as t) tt
       cross join lateral (values (x.id, y.id), (y.id, x.id)) as side(a, b)`,
    [scale.accounts, k],
  );
  await seedWideFriends(client, scale, k);
  await client.query(`create table public.bench_channel (i int primary key, id uuid not null)`);
  await client.query(
    `insert into public.bench_channel (i, id)
     select i, pg_temp.uuid7(now() - interval '750 days' + i * interval '1 minute') from generate_series(0, $1::int - 1) i`,
    [scale.channels],
  );
  // Channel c's members are accounts (c*m + j) mod n for j in 0..m-1; j = 0 owns it.
  await client.query(
    `insert into channels.channel (id, owner_id, name, description, visibility, created_at, updated_at, version)
     select c.id, a.id, 'Channel ' || c.i, 'A benchmark channel', 'public', now() - interval '750 days', now() - interval '750 days', 0
       from public.bench_channel c join public.bench_account a on a.i = (c.i * $1::int) % $2::int`,
    [scale.membersPerChannel, scale.accounts],
  );
  await client.query(
    `insert into channels.membership (id, channel_id, account_id, created_at)
     select pg_temp.uuid7(now() - interval '749 days'), c.id, a.id, now() - interval '749 days'
       from public.bench_channel c cross join generate_series(0, $1::int - 1) m(j)
       join public.bench_account a on a.i = (c.i * $1::int + m.j) % $2::int
     on conflict do nothing`,
    [scale.membersPerChannel, scale.accounts],
  );
  const step = Math.max(1, Math.floor(scale.accounts / scale.sessions));
  const sessions = await seedSessions(client, Array.from({ length: Math.min(scale.sessions, scale.accounts) }, (_, s) => (s * step) % scale.accounts));
  await seedPosts(client, scale, 0, scale.firstPosts);
  return sessions;
}

/**
 * The accounts of `feed-1000-friends`: `wideAccounts` of them, spread evenly over the accounts
 * (index ⌊(w + ½)·n / wideAccounts⌋), each befriending its next `wideFriends - k` accounts as
 * well, so that with its k friends before it, it has `wideFriends` (where two wide accounts'
 * ranges overlap, a few less; `wideFriendCounts` reads the real numbers). Each of those friends
 * gains one friend.
 */
export function wideAccountIndexes(scale: Scale): number[] {
  return Array.from({ length: scale.wideAccounts }, (_, w) => Math.floor(((w + 0.5) * scale.accounts) / scale.wideAccounts));
}

async function seedWideFriends(client: pg.Client, scale: Scale, k: number): Promise<void> {
  const forward = Math.min(scale.wideFriends, scale.accounts - 1) - k;
  if (scale.wideAccounts === 0 || forward <= k) return;
  await client.query(
    `insert into social.friendship (id, account_id, friend_id, created_at)
     select pg_temp.uuid7(t), side.a, side.b, t
       from unnest($1::int[]) w(i)
       cross join generate_series($2::int + 1, $3::int) d(k)
       join public.bench_account x on x.i = w.i
       join public.bench_account y on y.i = (w.i + d.k) % $4::int
       cross join lateral (select now() - interval '650 days' + (w.i * $3::int + d.k) * interval '1 second' as t) tt
       cross join lateral (values (x.id, y.id), (y.id, x.id)) as side(a, b)
     on conflict (account_id, friend_id) do nothing`,
    [wideAccountIndexes(scale), k, forward, scale.accounts],
  );
}

/** How many friends each wide account has, as stored. */
export async function wideFriendCounts(client: pg.Client, scale: Scale): Promise<number[]> {
  const { rows } = await client.query<{ n: number }>(
    `select (select count(*) from social.friendship f where f.account_id = b.id)::int as n
       from unnest($1::int[]) with ordinality w(i, o) join public.bench_account b on b.i = w.i order by w.o`,
    [wideAccountIndexes(scale)],
  );
  return rows.map((r) => r.n);
}

/** A new session for each account index given: tokens made here, only their SHA-256 stored, as the product does. */
export async function seedSessions(client: pg.Client, indexes: readonly number[]): Promise<Session[]> {
  await client.query(UUID7);
  const tokens = indexes.map(() => `agora_${randomBytes(32).toString('base64url')}`);
  const hashes = tokens.map((t) => createHash('sha256').update(t).digest('hex'));
  const { rows } = await client.query<{ i: number; id: string }>(
    `insert into accounts.session (id, account_id, token_hash, created_at, last_used_at, expires_at)
     select pg_temp.uuid7(now()), b.id, s.hash, now(), now(), now() + interval '29 days'
       from unnest($1::int[], $2::text[]) as s(i, hash) join public.bench_account b on b.i = s.i
     returning (select b2.i from public.bench_account b2 where b2.id = account_id) as i, account_id as id`,
    [indexes, hashes],
  );
  const byIndex = new Map(rows.map((r) => [r.i, r.id]));
  return indexes.map((i, s) => ({ token: tokens[s]!, accountId: byIndex.get(i)! }));
}

/**
 * Direct messages as the messages domain stores them: account i starts a two-person conversation
 * with each of its next `conversationsPerAccount` friends (i+1 …), so everyone is in about twice
 * that many; each conversation has `messagesPerConversation` messages, a few minutes apart,
 * written by its two people in turn; each participant has read all but the last two (a marker
 * moved once). `participant_key` is the SHA-256 of the sorted ids, as MessagesService makes it.
 */
export async function seedConversations(client: pg.Client, scale: Scale): Promise<void> {
  await client.query(UUID7);
  const k = Math.min(Math.floor(scale.friendsPerAccount / 2), Math.floor((scale.accounts - 1) / 2));
  const perAccount = Math.min(scale.conversationsPerAccount, k);
  // Times from a hash of the pair, not random(): one per row without the lateral pitfall of seedPosts.
  await client.query(
    `create table public.bench_conversation as
     select pg_temp.uuid7(t) as id, x.id as a, y.id as b, t
       from generate_series(0, $1::int - 1) s(n)
       cross join generate_series(1, $2::int) d(k)
       join public.bench_account x on x.i = s.n
       join public.bench_account y on y.i = (s.n + d.k) % $1::int
       cross join lateral (select now() - interval '600 days'
                                  + ((hashint4(s.n * 64 + d.k)::bigint + 2147483648) % (500 * 86400)) * interval '1 second' as t) tt`,
    [scale.accounts, perAccount],
  );
  // The last activity is the last message's time (message j is at t + 7j + 1 minutes).
  await client.query(
    `insert into messages.conversation (id, participant_key, created_at, last_activity_at)
     select c.id, encode(sha256(convert_to(least(c.a::text, c.b::text) collate "C" || ',' || greatest(c.a::text, c.b::text) collate "C", 'UTF8')), 'hex'),
            c.t, c.t + (($1::int - 1) * 7 + 1) * interval '1 minute'
       from public.bench_conversation c`,
    [scale.messagesPerConversation],
  );
  await client.query(
    `insert into messages.message (id, conversation_id, author_id, text, created_at)
     select pg_temp.uuid7(m.t), c.id, case when j % 2 = 0 then c.a else c.b end,
            'Bench message ' || j || ': ' || repeat('lorem ipsum ', 4), m.t
       from public.bench_conversation c
       cross join generate_series(0, $1::int - 1) j
       cross join lateral (select c.t + (j * 7 + 1) * interval '1 minute' as t) m`,
    [scale.messagesPerConversation],
  );
  await client.query(
    `insert into messages.participant (conversation_id, account_id, position, last_read_message_id, marker_version, closed_at)
     select c.id, side.account_id, side.position,
            (select m.id from messages.message m where m.conversation_id = c.id order by m.id desc offset 2 limit 1),
            1, null
       from public.bench_conversation c
       cross join lateral (values (c.a, 0), (c.b, 1)) as side(account_id, position)`,
  );
  await client.query('analyze messages.conversation; analyze messages.participant; analyze messages.message');
}

/**
 * Notifications as NotificationsService's consumers store them, `notificationsPerAccount` per
 * account over the last 90 days, of the five types in turn, each from one of the recipient's
 * friends, with the group and source keys the consumers make. Inserted in time order so that
 * `seq` (a bigserial PostgreSQL assigns) follows time, as it does for rows made live. Channel
 * ids are the seeded channels'; the other subject ids (posts, conversations, messages, friend
 * requests) are fresh UUIDv7s: the columns have no foreign keys and the lists do not read them.
 */
export async function seedNotifications(client: pg.Client, scale: Scale): Promise<void> {
  await client.query(UUID7);
  const k = Math.min(Math.floor(scale.friendsPerAccount / 2), Math.floor((scale.accounts - 1) / 2));
  await client.query(
    `insert into notifications.notification
       (id, recipient_id, type, actor_id, post_id, channel_id, conversation_id, message_id, friend_request_id, group_key, source_key, created_at)
     select pg_temp.uuid7(n.t), n.recipient_id, n.type, n.actor_id, n.post_id, n.channel_id, n.conversation_id, n.message_id, n.friend_request_id,
            n.type || ':' || case n.type when 'channelPost' then n.channel_id::text when 'mention' then n.post_id::text
                                          when 'messageReceived' then n.conversation_id::text
                                          when 'friendRequestReceived' then n.friend_request_id::text else n.subject::text end,
            case n.type when 'channelPost' then 'post:' || n.post_id when 'mention' then 'post:' || n.post_id
                        when 'messageReceived' then 'message:' || n.message_id
                        when 'friendRequestReceived' then 'friendRequest:' || n.friend_request_id else 'friendship:' || n.subject end,
            n.t
       from (
         select r.id as recipient_id, y.id as actor_id, x.t, x.type, x.subject,
                case when x.type in ('channelPost', 'mention') then x.subject end as post_id,
                case when x.type = 'channelPost' then ch.id end as channel_id,
                case when x.type = 'messageReceived' then pg_temp.uuid7(x.t - interval '1 day') end as conversation_id,
                case when x.type = 'messageReceived' then x.subject end as message_id,
                case when x.type = 'friendRequestReceived' then x.subject end as friend_request_id
           from (select s.n, j, (array['friendRequestReceived', 'friendRequestAccepted', 'channelPost', 'mention', 'messageReceived'])[j % 5 + 1] as type,
                        now() - interval '90 days' * random() as t, pg_temp.uuid7(now() - interval '91 days') as subject
                   from generate_series(0, $1::int - 1) s(n) cross join generate_series(0, $2::int - 1) j) x
           join public.bench_account r on r.i = x.n
           join public.bench_account y on y.i = (x.n + 1 + x.j % $3::int) % $1::int
           left join public.bench_channel ch on ch.i = (x.n + x.j) % $4::int
       ) n
      order by n.t`,
    [scale.accounts, scale.notificationsPerAccount, k, scale.channels],
  );
  await client.query('analyze notifications.notification');
}

/**
 * Posts g in [from, to): a share in channels (written by the channel's members), the rest
 * general posts spread over the accounts, all at random times over the last two years.
 */
export async function seedPosts(client: pg.Client, scale: Scale, from: number, to: number): Promise<void> {
  if (to <= from) return;
  await client.query(UUID7);
  const everyNth = Math.max(1, Math.round(1 / scale.channelShare)); // post g is a channel post when g % everyNth = 0
  await client.query(
    `insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version)
     select pg_temp.uuid7(t), a.id, c.id,
            'Bench post ' || g || ': ' || repeat('lorem ipsum dolor sit amet ', 3), t, t, 0
       -- random() in the select list of the series: one time per row (in an uncorrelated
       -- lateral subquery PostgreSQL would compute it once for all rows)
       from (select g, now() - interval '730 days' * random() - interval '1 minute' as t
               from generate_series($1::int, $2::int - 1) g) s
       left join public.bench_channel c on g % $3::int = 0 and c.i = (g / $3::int) % $4::int
       join public.bench_account a on a.i = case
            when g % $3::int = 0 then (((g / $3::int) % $4::int) * $5::int + (g / ($3::int * $4::int)) % $5::int) % $6::int
            else ((hashint4(g)::bigint + 2147483648) % $6::int)::int end`,
    [from, to, everyNth, scale.channels, scale.membersPerChannel, scale.accounts],
  );
  await client.query('analyze posts.post');
}

/**
 * Posts seeded straight into `posts.post` bypass Agora's fan-out, as no post made through the API
 * does: the home timelines built before (by the feed-small-data scenario's reads) would lack
 * them. Timelines are derived data; dropping them has each reader's built again, from all the
 * posts, at its first read (the priming that follows), which is the state a server that had
 * received these posts one by one would be in.
 */
export async function dropTimelines(client: pg.Client): Promise<void> {
  await client.query('truncate timelines.entry, timelines.owner');
}

export async function finishSeeding(client: pg.Client): Promise<void> {
  await client.query('vacuum analyze');
}
