// The timelines domain's tables, in the `timelines` PostgreSQL schema: each reader's home
// timeline materialized on write (fan-out), and the fan-out's own bookkeeping. Readers,
// authors and posts live in other domains, so their ids are plain uuids without foreign keys.
import { defineEntity, p } from '@mikro-orm/core';
import { notifyingTrigger } from '../triggers.ts';

/** One post in one reader's timeline, keyed as the feed is ordered: (created_at, post_id). */
export const TimelineEntryEntity = defineEntity({
  name: 'TimelineEntry',
  schema: 'timelines',
  tableName: 'entry',
  properties: {
    ownerId: p.uuid().primary(),
    createdAt: p.datetime(3).primary(),
    postId: p.uuid().primary(),
    authorId: p.uuid(),
  },
  // Invalidate the feed pages every instance keeps in memory (Migration20261202220000).
  triggers: [notifyingTrigger('timelines', 'entry', 'entry_added', 'insert'), notifyingTrigger('timelines', 'entry', 'entry_gone', 'delete')],
});

/**
 * A reader whose timeline is materialized (made on its first feed read). The timeline holds
 * every post of its friends whose key is at or after the horizon (null: since the beginning);
 * older ones are read on demand (fan-out on read).
 */
export const TimelineOwnerEntity = defineEntity({
  name: 'TimelineOwner',
  schema: 'timelines',
  tableName: 'owner',
  properties: {
    ownerId: p.uuid().primary(),
    horizonAt: p.datetime(3).nullable(),
    horizonId: p.uuid().nullable(),
  },
  triggers: [
    notifyingTrigger('timelines', 'owner', 'owner_added', 'insert'),
    notifyingTrigger('timelines', 'owner', 'owner_changed', 'update'),
    notifyingTrigger('timelines', 'owner', 'owner_gone', 'delete'),
  ],
});

/** An author with more friends than TIMELINE_WIDE_FRIENDS: not fanned out, read on demand (hybrid). */
export const TimelineWideEntity = defineEntity({
  name: 'TimelineWide',
  schema: 'timelines',
  tableName: 'wide',
  properties: {
    accountId: p.uuid().primary(),
  },
  triggers: [notifyingTrigger('timelines', 'wide', 'wide_added', 'insert'), notifyingTrigger('timelines', 'wide', 'wide_gone', 'delete')],
});

/** The posts the fan-out has handled, kept while a pass may look at them again (its grace window, or longer: see TimelinesStore.forgetHandled). */
export const TimelineHandledEntity = defineEntity({
  name: 'TimelineHandled',
  schema: 'timelines',
  tableName: 'handled',
  properties: {
    createdAt: p.datetime(3).primary(),
    id: p.uuid().primary(),
  },
});

/** The fan-out's heartbeat: when a pass last found nothing left to do (one row). */
export const TimelineFanoutEntity = defineEntity({
  name: 'TimelineFanout',
  schema: 'timelines',
  tableName: 'fanout',
  properties: {
    id: p.integer().primary().autoincrement(false),
    caughtUpAt: p.datetime(3),
  },
  // Its heartbeat reaches every instance (Migration20261202220000): kept feed pages are served only while it is recent.
  triggers: [notifyingTrigger('timelines', 'fanout', 'fanout_changed', 'update')],
});

/**
 * Where the fan-out's next pass starts looking (one row, Migration20261207140000): `fromAt`, the
 * earliest `created_at` a post that no pass has seen yet can have (null: the grace window), and
 * `nextAt`, the bound the pass under way noted before its snapshot, which becomes `fromAt` once
 * it catches up.
 */
export const TimelineScanEntity = defineEntity({
  name: 'TimelineScan',
  schema: 'timelines',
  tableName: 'scan',
  properties: {
    id: p.integer().primary().autoincrement(false),
    fromAt: p.datetime(3).nullable(),
    nextAt: p.datetime(3).nullable(),
  },
});

export const timelinesEntities = [TimelineEntryEntity, TimelineOwnerEntity, TimelineWideEntity, TimelineHandledEntity, TimelineFanoutEntity, TimelineScanEntity];
