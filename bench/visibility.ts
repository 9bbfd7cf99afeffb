// `feed-while-posting`'s prober: while create-post runs at full load on the scenario's
// connections, it creates posts as an author with friends, one at a time, and reads each of
// some of the author's friends' feeds until the post is in it. The time is from the `201`'s
// arrival to the answer of the first feed read that shows the post: with a feed read on demand
// (fan-out on read) that is one feed read; with timelines filled by background jobs it is how
// long the job takes to reach them, measured to within one read (plus `pollMs`).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProbeAccount {
  token: string;
  accountId: string;
}

/** An author and some of its friends, whose feeds must show the author's posts. */
export interface ProbeGroup {
  author: ProbeAccount;
  friends: ProbeAccount[];
}

export interface VisibilityResult {
  /** Posts created by the prober. */
  posts: number;
  /** One per (post, friend) that saw it: ms from the 201 to the first read that showed it. */
  samples: number[];
  /** (post, friend) pairs whose feed did not show the post within `timeoutMs`. */
  missing: number;
  /** Every feed read's duration, ms (the measurement's resolution). */
  feedReadMs: number[];
}

interface FeedPage {
  data: { id: string; createdAt: string }[];
  nextCursor: string | null;
}

function request(agent: http.Agent, url: string, method: string, token: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      url,
      {
        method,
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), 'idempotency-key': randomUUID() }),
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
        response.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Whether `post` is in the friend's feed: the first page, and further pages while they still
 * hold newer posts than it (under a create-post load, other friends' posts may have pushed it
 * off the first page by the time it is read).
 */
async function feedShows(agent: http.Agent, origin: string, token: string, post: { id: string; createdAt: string }, readMs: number[]): Promise<boolean> {
  let path = '/v1/feed';
  for (let page = 0; page < 5; page++) {
    const started = performance.now();
    const response = await request(agent, `${origin}${path}`, 'GET', token);
    readMs.push(performance.now() - started);
    if (response.status !== 200) throw new Error(`feed-while-posting: GET ${path} answered ${response.status}: ${response.body.slice(0, 300)}`);
    const body = JSON.parse(response.body) as FeedPage;
    if (body.data.some((p) => p.id === post.id)) return true;
    const last = body.data.at(-1);
    // Ordered by (createdAt, id) descending; ISO-8601 strings of one format compare as times.
    if (!last || !body.nextCursor || last.createdAt < post.createdAt || (last.createdAt === post.createdAt && last.id < post.id)) return false;
    path = `/v1/feed?cursor=${encodeURIComponent(body.nextCursor)}`;
  }
  return false;
}

/**
 * Probes until `signal` aborts (the post in flight is followed to the end, up to `timeoutMs`).
 * Groups are used in turn. Any answer but 201 to a post or 200 to a feed read fails the run.
 */
export async function probeVisibility(
  origin: string,
  groups: readonly ProbeGroup[],
  signal: AbortSignal,
  { pollMs = 20, timeoutMs = 10_000 }: { pollMs?: number; timeoutMs?: number } = {},
): Promise<VisibilityResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 + Math.max(...groups.map((g) => g.friends.length)) });
  const result: VisibilityResult = { posts: 0, samples: [], missing: 0, feedReadMs: [] };
  try {
    for (let n = 0; !signal.aborted; n++) {
      const { author, friends } = groups[n % groups.length]!;
      const created = await request(agent, `${origin}/v1/posts`, 'POST', author.token, { text: `A post to find in the feeds (${n})` });
      const createdAt = performance.now();
      if (created.status !== 201) throw new Error(`feed-while-posting: POST /v1/posts answered ${created.status}: ${created.body.slice(0, 300)}`);
      const post = JSON.parse(created.body) as { id: string; createdAt: string };
      result.posts++;
      await Promise.all(
        friends.map(async (friend) => {
          for (;;) {
            if (await feedShows(agent, origin, friend.token, post, result.feedReadMs)) {
              result.samples.push(performance.now() - createdAt);
              return;
            }
            if (performance.now() - createdAt > timeoutMs) {
              result.missing++;
              return;
            }
            await sleep(pollMs);
          }
        }),
      );
    }
  } finally {
    agent.destroy();
  }
  return result;
}
