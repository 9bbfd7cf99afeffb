// The benchmark's baseline: a bare Fastify 5 + `pg` server that answers the benchmarked
// requests with the same JSON as Agora using the smallest honest SQL. No validation, no
// spec, no ORM, no rate limits, no logging, no metrics; "who is calling" is one lookup of
// the bearer token's hash in the session table, where an operation needs to know it.
// Env: DATABASE_URL, PORT (0: any). Prints "listening at <origin>" once ready.
import { createHash, randomBytes } from 'node:crypto';
import { verify } from '@node-rs/argon2';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const app = Fastify({ logger: false });

const POST_COLUMNS = 'p.id, p.author_id, p.channel_id, p.text, p.created_at, p.updated_at, p.version, a.handle, a.display_name';
const PAGE = 20;

interface PostRecord {
  id: string;
  author_id: string;
  channel_id: string | null;
  text: string;
  created_at: Date;
  updated_at: Date;
  version: number;
  handle: string;
  display_name: string;
}

function postJson(r: PostRecord) {
  return {
    id: r.id,
    authorId: r.author_id,
    author: { id: r.author_id, handle: r.handle, displayName: r.display_name },
    channelId: r.channel_id,
    text: r.text,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    version: r.version,
  };
}

function problem(reply: FastifyReply, status: number, title: string) {
  return reply.code(status).type('application/problem+json').send({ type: 'about:blank', title, status });
}

/** The caller's account id, from the bearer token's SHA-256 in the session table. */
async function caller(request: FastifyRequest): Promise<string | null> {
  const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
  if (!token) return null;
  const hash = createHash('sha256').update(token).digest('hex');
  const { rows } = await pool.query<{ account_id: string }>(
    'select account_id from accounts.session where token_hash = $1 and expires_at > now()',
    [hash],
  );
  return rows[0]?.account_id ?? null;
}

/** After-this-row keyset from a cursor, and the page built from limit + 1 rows. */
function after(cursor: string | undefined): [Date, string] | null {
  if (!cursor) return null;
  const { a, t } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { a: string; t: number };
  return [new Date(t), a];
}

function page(rows: PostRecord[]) {
  const items = rows.slice(0, PAGE);
  const last = items.at(-1);
  const nextCursor =
    rows.length > PAGE && last ? Buffer.from(JSON.stringify({ a: last.id, t: last.created_at.getTime() })).toString('base64url') : null;
  return { data: items.map(postJson), nextCursor };
}

/** `leading`: an order column the index has before created_at (see Agora's PostsStore.list). */
async function list(where: string, params: unknown[], cursor: string | undefined, leading = '') {
  const position = after(cursor);
  const keyset = position ? ` and (p.created_at, p.id) < ($${params.length + 1}::timestamptz, $${params.length + 2}::uuid)` : '';
  const { rows } = await pool.query<PostRecord>(
    `select ${POST_COLUMNS} from posts.post p join accounts.account a on a.id = p.author_id
      where ${where}${keyset} order by ${leading}p.created_at desc, p.id desc limit ${PAGE + 1}`,
    position ? [...params, position[0].toISOString(), position[1]] : params,
  );
  return page(rows);
}

app.get<{ Params: { id: string } }>('/v1/posts/:id', async (request, reply) => {
  const { rows } = await pool.query<PostRecord>(
    `select ${POST_COLUMNS} from posts.post p join accounts.account a on a.id = p.author_id where p.id = $1`,
    [request.params.id],
  );
  if (!rows[0]) return problem(reply, 404, 'Not Found');
  return reply.header('etag', `"${rows[0].version}"`).send(postJson(rows[0]));
});

app.get<{ Params: { id: string }; Querystring: { cursor?: string } }>('/v1/accounts/:id/posts', async (request) =>
  list('p.author_id = $1 and p.channel_id is null', [request.params.id], request.query.cursor, 'p.channel_id desc, '),
);

app.get<{ Params: { id: string }; Querystring: { cursor?: string } }>('/v1/channels/:id/posts', async (request) =>
  list('p.channel_id = $1', [request.params.id], request.query.cursor),
);

app.get<{ Querystring: { cursor?: string } }>('/v1/feed', async (request, reply) => {
  const me = await caller(request);
  if (!me) return problem(reply, 401, 'Unauthorized');
  const position = after(request.query.cursor);
  const keyset = position ? 'and (x.created_at, x.id) < ($2::timestamptz, $3::uuid)' : '';
  // The same plan as Agora's feed: each author's newest keys from the index alone (the order
  // leads with channel_id so that PostgreSQL sees the index already sorted), merged, then only
  // the page's rows and authors read.
  const { rows } = await pool.query<PostRecord>(
    `select ${POST_COLUMNS}
       from (
         select k.created_at, k.id
           from (select $1::uuid as author_id union all select friend_id from social.friendship where account_id = $1) f
           cross join lateral (
             select x.created_at, x.id from posts.post x
              where x.author_id = f.author_id and x.channel_id is null ${keyset}
              order by x.channel_id desc, x.created_at desc, x.id desc limit ${PAGE + 1}
           ) k
          order by k.created_at desc, k.id desc limit ${PAGE + 1}
       ) top
       join posts.post p on p.id = top.id
       join accounts.account a on a.id = p.author_id
      order by top.created_at desc, top.id desc`,
    position ? [me, position[0].toISOString(), position[1]] : [me],
  );
  return page(rows);
});

const REPLAY_OPERATION = 'baseline:createPost';

app.post<{ Body: { text: string } }>('/v1/posts', async (request, reply) => {
  const me = await caller(request);
  if (!me) return problem(reply, 401, 'Unauthorized');
  const key = request.headers['idempotency-key'] as string | undefined;
  if (key) {
    const { rows } = await pool.query<{ response_body: string }>(
      'select response_body from idempotency.record where scope = $1 and operation = $2 and key = $3',
      [me, REPLAY_OPERATION, key],
    );
    if (rows[0]) return reply.code(201).header('idempotent-replayed', 'true').type('application/json').send(rows[0].response_body);
  }
  const now = new Date();
  const { rows } = await pool.query<PostRecord>(
    `with a as (select id, handle, display_name from accounts.account where id = $1),
          p as (insert into posts.post (id, author_id, channel_id, text, created_at, updated_at, version)
                select $2, a.id, null, $3, $4, $4, 0 from a returning *)
     select ${POST_COLUMNS} from p join a on a.id = p.author_id`,
    [me, uuidv7(), request.body.text, now.toISOString()],
  );
  const body = JSON.stringify(postJson(rows[0]!));
  if (key) {
    await pool.query(
      `insert into idempotency.record (scope, operation, key, fingerprint, response_status, response_headers, response_body, created_at, expires_at)
       values ($1, $2, $3, '', 201, '{}', $4, now(), now() + interval '1 day') on conflict do nothing`,
      [me, REPLAY_OPERATION, key, body],
    );
  }
  return reply.code(201).header('location', `/v1/posts/${rows[0]!.id}`).header('etag', '"0"').type('application/json').send(body);
});

app.patch<{ Params: { id: string }; Body: { text: string } }>('/v1/posts/:id', async (request, reply) => {
  const me = await caller(request);
  if (!me) return problem(reply, 401, 'Unauthorized');
  const version = Number(/^"(\d+)"$/.exec(request.headers['if-match'] ?? '')?.[1] ?? -1);
  const { rows } = await pool.query<PostRecord>(
    `with p as (update posts.post set text = $1, updated_at = now(), version = version + 1
                 where id = $2 and version = $3 and author_id = $4 returning *)
     select ${POST_COLUMNS} from p join accounts.account a on a.id = p.author_id`,
    [request.body.text, request.params.id, version, me],
  );
  if (!rows[0]) return problem(reply, 412, 'Precondition Failed');
  return reply.header('etag', `"${rows[0].version}"`).send(postJson(rows[0]));
});

// Notifications: a page of the caller's, each with its actor's summary (one join).
const NOTIFICATION_COLUMNS =
  'n.id, n.seq, n.type, n.actor_id, n.post_id, n.channel_id, n.conversation_id, n.friend_request_id, n.group_key, n.created_at, a.handle, a.display_name';

app.get<{ Querystring: { cursor?: string } }>('/v1/notifications', async (request, reply) => {
  const me = await caller(request);
  if (!me) return problem(reply, 401, 'Unauthorized');
  const before = request.query.cursor ? (JSON.parse(Buffer.from(request.query.cursor, 'base64url').toString('utf8')) as { s: string }).s : null;
  const { rows } = await pool.query<Record<string, any>>(
    `select ${NOTIFICATION_COLUMNS} from notifications.notification n join accounts.account a on a.id = n.actor_id
      where n.recipient_id = $1 and ($2::bigint is null or n.seq < $2::bigint) order by n.seq desc limit ${PAGE + 1}`,
    [me, before],
  );
  const items = rows.slice(0, PAGE);
  const last = items.at(-1);
  return {
    data: items.map((r) => ({
      id: r.id,
      type: r.type,
      createdAt: r.created_at.toISOString(),
      actor: { id: r.actor_id, handle: r.handle, displayName: r.display_name },
      groupKey: r.group_key,
      postId: r.post_id,
      channelId: r.channel_id,
      conversationId: r.conversation_id,
      friendRequestId: r.friend_request_id,
    })),
    nextCursor: rows.length > PAGE && last ? Buffer.from(JSON.stringify({ s: String(last.seq) })).toString('base64url') : null,
  };
});

// Direct messages. A participant as the API shows one: its summary while open, nulls once closed.
function participantJson(id: string, closed: boolean, handle: string | null, displayName: string | null) {
  return closed ? { id, handle: null, displayName: null, closed: true } : { id, handle, displayName, closed: false };
}

interface MessageRecord {
  id: string;
  conversation_id: string;
  author_id: string;
  text: string;
  created_at: Date;
  handle: string | null;
  display_name: string | null;
  closed: boolean;
}

function messageJson(r: MessageRecord) {
  return {
    id: r.id,
    conversationId: r.conversation_id,
    authorId: r.author_id,
    author: participantJson(r.author_id, r.closed, r.handle, r.display_name),
    text: r.text,
    createdAt: r.created_at.toISOString(),
  };
}

// The caller's conversations, latest activity first, in one statement: the participants with
// their summaries, the last message, and the caller's marker with its unread count.
app.get<{ Querystring: { cursor?: string } }>('/v1/conversations', async (request, reply) => {
  const me = await caller(request);
  if (!me) return problem(reply, 401, 'Unauthorized');
  const position = after(request.query.cursor);
  const { rows } = await pool.query<Record<string, any>>(
    `select c.id, c.created_at, c.last_activity_at, me.last_read_message_id, me.marker_version,
            (select json_agg(json_build_object('id', p.account_id, 'closed', p.closed_at is not null, 'handle', a.handle, 'displayName', a.display_name) order by p.position)
               from messages.participant p left join accounts.account a on a.id = p.account_id where p.conversation_id = c.id) as participants,
            lm.id as last_id, lm.author_id as last_author_id, lm.text as last_text, lm.created_at as last_created_at,
            (select count(*) from messages.message u
              where u.conversation_id = me.conversation_id and u.author_id <> me.account_id
                and (me.last_read_message_id is null or u.id > me.last_read_message_id))::int as unread
       from messages.participant me
       join messages.conversation c on c.id = me.conversation_id
       left join lateral (select m.id, m.author_id, m.text, m.created_at from messages.message m
                           where m.conversation_id = c.id order by m.id desc limit 1) lm on true
      where me.account_id = $1 ${position ? 'and (c.last_activity_at, c.id) < ($2::timestamptz, $3::uuid)' : ''}
      order by c.last_activity_at desc, c.id desc limit ${PAGE + 1}`,
    position ? [me, position[0].toISOString(), position[1]] : [me],
  );
  const items = rows.slice(0, PAGE);
  const last = items.at(-1);
  return {
    data: items.map((r) => {
      const participants = (r.participants as { id: string; closed: boolean; handle: string | null; displayName: string | null }[]).map((p) =>
        participantJson(p.id, p.closed || p.handle === null, p.handle, p.displayName),
      );
      const author = participants.find((p) => p.id === r.last_author_id);
      const marker = { conversationId: r.id, lastReadMessageId: r.last_read_message_id, unreadCount: r.unread, version: r.marker_version };
      return {
        id: r.id,
        participants,
        lastMessage:
          r.last_id === null
            ? null
            : { id: r.last_id, conversationId: r.id, authorId: r.last_author_id, author: author ?? participantJson(r.last_author_id, true, null, null), text: r.last_text, createdAt: r.last_created_at.toISOString() },
        unreadCount: r.unread,
        marker,
        createdAt: r.created_at.toISOString(),
        lastActivityAt: r.last_activity_at.toISOString(),
      };
    }),
    nextCursor: rows.length > PAGE && last ? Buffer.from(JSON.stringify({ a: last.id, t: last.last_activity_at.getTime() })).toString('base64url') : null,
  };
});

const MESSAGE_COLUMNS = 'm.id, m.conversation_id, m.author_id, m.text, m.created_at, a.handle, a.display_name, (ap.closed_at is not null) as closed';

// A page of a conversation's messages, newest first, each with its author, if the caller is in it.
app.get<{ Params: { id: string }; Querystring: { cursor?: string } }>('/v1/conversations/:id/messages', async (request, reply) => {
  const me = await caller(request);
  if (!me) return problem(reply, 401, 'Unauthorized');
  const before = request.query.cursor ? after(request.query.cursor)![1] : null;
  const { rows } = await pool.query<MessageRecord & { member: boolean }>(
    `select ${MESSAGE_COLUMNS}, true as member
       from messages.message m
       left join messages.participant ap on ap.conversation_id = m.conversation_id and ap.account_id = m.author_id
       left join accounts.account a on a.id = m.author_id
      where m.conversation_id = $1 and ($3::uuid is null or m.id < $3::uuid)
        and exists (select 1 from messages.participant p where p.conversation_id = $1 and p.account_id = $2 and p.closed_at is null)
      order by m.id desc limit ${PAGE + 1}`,
    [request.params.id, me, before],
  );
  if (rows.length === 0) return problem(reply, 404, 'Not Found'); // the bench reads conversations that have messages
  const items = rows.slice(0, PAGE);
  const last = items.at(-1);
  return {
    data: items.map(messageJson),
    nextCursor: rows.length > PAGE && last ? Buffer.from(JSON.stringify({ a: last.id, t: last.created_at.getTime() })).toString('base64url') : null,
  };
});

const SEND_OPERATION = 'baseline:sendMessage';

// Sends a message as Agora does: only a participant, and in a conversation of two only to a
// friend; the message and the conversation's latest activity in one statement, then the
// notifications of the recipients without an unread one of this conversation, serialized per
// conversation by the same advisory lock, in a transaction.
app.post<{ Params: { id: string }; Body: { text: string } }>('/v1/conversations/:id/messages', async (request, reply) => {
  const me = await caller(request);
  if (!me) return problem(reply, 401, 'Unauthorized');
  const key = request.headers['idempotency-key'] as string | undefined;
  if (key) {
    const { rows } = await pool.query<{ response_body: string }>(
      'select response_body from idempotency.record where scope = $1 and operation = $2 and key = $3',
      [me, SEND_OPERATION, key],
    );
    if (rows[0]) return reply.code(201).header('idempotent-replayed', 'true').type('application/json').send(rows[0].response_body);
  }
  const conversationId = request.params.id;
  const id = uuidv7();
  const now = new Date().toISOString();
  const client = await pool.connect();
  let row: MessageRecord | undefined;
  try {
    await client.query('begin');
    await client.query(`select pg_advisory_xact_lock(hashtextextended('notifications.conversation:' || $1, 0))`, [conversationId]);
    const { rows } = await client.query<MessageRecord>(
      `with ps as (select account_id, closed_at from messages.participant where conversation_id = $1),
            allowed as (
              select 1 from ps where account_id = $2 and closed_at is null
                and ((select count(*) from ps) <> 2
                     or exists (select 1 from ps o join social.friendship f on f.account_id = $2 and f.friend_id = o.account_id
                                 where o.account_id <> $2 and o.closed_at is null))),
            m as (insert into messages.message (id, conversation_id, author_id, text, created_at)
                  select $3, $1, $2, $4, $5 from allowed returning *),
            c as (update messages.conversation set last_activity_at = greatest(last_activity_at, $5)
                   where id = $1 and exists (select 1 from m)),
            n as (insert into notifications.notification
                    (id, recipient_id, type, actor_id, post_id, channel_id, conversation_id, message_id, friend_request_id, group_key, source_key, created_at)
                  select overlay(gen_random_uuid()::text placing substr(m.id::text, 1, 13) from 1)::uuid, ps.account_id, 'messageReceived', $2, null, null, $1, m.id, null, 'messageReceived:' || $1, 'message:' || m.id, $5
                    from m cross join ps
                   where ps.account_id <> $2 and ps.closed_at is null
                     and not exists (select 1 from notifications.notification x
                                      where x.recipient_id = ps.account_id and x.type = 'messageReceived' and x.conversation_id = $1
                                        and x.seq > coalesce((select k.last_read_seq from notifications.marker k where k.account_id = ps.account_id), 0))
                  on conflict (recipient_id, source_key) do nothing)
       select m.id, m.conversation_id, m.author_id, m.text, m.created_at, a.handle, a.display_name, false as closed
         from m join accounts.account a on a.id = m.author_id`,
      [conversationId, me, id, request.body.text, now],
    );
    await client.query('commit');
    row = rows[0];
  } catch (error) {
    await client.query('rollback');
    throw error;
  } finally {
    client.release();
  }
  if (!row) return problem(reply, 404, 'Not Found');
  const body = JSON.stringify(messageJson(row));
  if (key) {
    await pool.query(
      `insert into idempotency.record (scope, operation, key, fingerprint, response_status, response_headers, response_body, created_at, expires_at)
       values ($1, $2, $3, '', 201, '{}', $4, now(), now() + interval '1 day') on conflict do nothing`,
      [me, SEND_OPERATION, key, body],
    );
  }
  return reply.code(201).header('location', `/v1/conversations/${conversationId}/messages/${id}`).type('application/json').send(body);
});

app.post<{ Body: { email: string; password: string } }>('/v1/sessions', async (request, reply) => {
  const { rows } = await pool.query<{
    id: string; email: string; handle: string; display_name: string; bio: string | null;
    password_hash: string; created_at: Date; updated_at: Date; version: number;
  }>('select id, email, handle, display_name, bio, password_hash, created_at, updated_at, version from accounts.account where email = $1', [
    request.body.email,
  ]);
  const account = rows[0];
  if (!account || !(await verify(account.password_hash, request.body.password))) return problem(reply, 401, 'Unauthorized');
  const token = `agora_${randomBytes(32).toString('base64url')}`;
  const { rows: sessions } = await pool.query<{ expires_at: Date }>(
    `insert into accounts.session (id, account_id, token_hash, created_at, last_used_at, expires_at)
     values ($1, $2, $3, now(), now(), now() + interval '30 days') returning expires_at`,
    [uuidv7(), account.id, createHash('sha256').update(token).digest('hex')],
  );
  return reply.code(201).send({
    token,
    expiresAt: sessions[0]!.expires_at.toISOString(),
    account: {
      id: account.id, handle: account.handle, displayName: account.display_name, bio: account.bio, email: account.email,
      createdAt: account.created_at.toISOString(), updatedAt: account.updated_at.toISOString(), version: account.version,
    },
  });
});

const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
console.log(`listening at ${address}`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => void app.close().then(() => pool.end()).then(() => process.exit(0)));
}
