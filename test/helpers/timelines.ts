// Home timelines in tests that run the fan-out themselves (timelines.test.ts, feed-cache.test.ts):
// their server runs no timed passes (the boot option timedFanOut: false), so "caught up" is a
// point the test chooses.
import { unwrap, type AgoraClient } from 'agora-sdk';
import type { Agora } from './agora.ts';

/** Waits for the jobs of new friendships, then runs fan-out passes until one finds nothing left. */
export async function catchUp(agora: Agora): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const queue = (await agora.jobs!.backlog()).find((q) => q.queue === 'events.timelines');
    if (!queue) throw new Error('no events.timelines queue');
    if (queue.depth + queue.active > 0) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      continue;
    }
    const outcome = await agora.services.timelines.fanOut({ full: true });
    if (outcome.ran && outcome.caughtUp) return;
  }
  throw new Error('the fan-out did not catch up');
}

/** `a` asks `b` to be friends, and `b` accepts. */
export async function befriend(a: { client: AgoraClient; account: { id: string } }, b: { client: AgoraClient; account: { id: string } }): Promise<void> {
  await unwrap(a.client.POST('/friend-requests', { body: { accountId: b.account.id } }));
  await unwrap(b.client.PUT('/accounts/{accountId}/friends/{friendId}', { params: { path: { accountId: b.account.id, friendId: a.account.id } } }));
}
