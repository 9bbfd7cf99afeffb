// The timelines domain's persistence API: rows in, rows out. No business rules here.
export { compareKeys, TimelinesStore } from './store.ts';
export type { FanOutSettings, FeedRow, Key, PassOutcome, TimelineState } from './store.ts';
export { timelinesEntities } from './entities.ts';
