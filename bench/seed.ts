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
}

export const SCALES: Record<string, Scale> = {
  smoke: { accounts: 200, friendsPerAccount: 20, posts: 5_000, firstPosts: 1_000, channels: 5, membersPerChannel: 10, channelShare: 0.2, sessions: 100 },
  small: { accounts: 1_000, friendsPerAccount: 50, posts: 50_000, firstPosts: 10_000, channels: 10, membersPerChannel: 20, channelShare: 0.2, sessions: 500 },
  default: { accounts: 10_000, friendsPerAccount: 50, posts: 1_000_000, firstPosts: 10_000, channels: 200, membersPerChannel: 20, channelShare: 0.2, sessions: 1_000 },
  large: { accounts: 50_000, friendsPerAccount: 50, posts: 5_000_000, firstPosts: 10_000, channels: 1_000, membersPerChannel: 20, channelShare: 0.2, sessions: 2_000 },
};

export const PASSWORD = 'bench-password-1';

export function email(i: number): string {
  return `user${i}@bench.example`;
}

export interface Session {
  token: string;
  accountId: string;
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
  // Sessions: tokens made here, only their SHA-256 stored, as the product does.
  const sessions: Session[] = [];
  const step = Math.max(1, Math.floor(scale.accounts / scale.sessions));
  const indexes = Array.from({ length: Math.min(scale.sessions, scale.accounts) }, (_, s) => (s * step) % scale.accounts);
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
  indexes.forEach((i, s) => sessions.push({ token: tokens[s]!, accountId: byIndex.get(i)! }));
  await seedPosts(client, scale, 0, scale.firstPosts);
  return sessions;
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

export async function finishSeeding(client: pg.Client): Promise<void> {
  await client.query('vacuum analyze');
}
