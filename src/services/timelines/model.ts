// What the timelines domain is configured by (see README, "Home timelines").
export interface TimelinesSettings {
  maxPage: number;
  /** The entries each timeline keeps (TIMELINE_LENGTH); older pages are read on demand. */
  length: number;
  /** Authors with more friends than this are not fanned out but read on demand (TIMELINE_WIDE_FRIENDS). */
  wideFriends: number;
  /** Pause between fan-out passes that found little to do (TIMELINE_FANOUT_INTERVAL_MS). */
  fanOutIntervalMs: number;
  /** Feeds are read on demand when the fan-out has not caught up for this long (TIMELINE_FRESH_MS); kept pages are served only while it has. */
  freshMs: number;
  /** Feed pages this instance keeps in memory (TIMELINE_CACHE_PAGES); 0: none. */
  cachePages: number;
  /** What those pages may weigh, estimated in bytes (TIMELINE_CACHE_MB); 0: none. */
  cacheBytes: number;
  /** The last this many ms are looked over by every pass, besides where the passes before it said to start (TimelinesStore.pass) (ms). */
  windowMs: number;
  /** How far back the first pass looks, before any bound was noted, and a full one (ms). */
  graceMs: number;
  /** How often the handled posts that no pass looks at again are forgotten (ms). */
  forgetIntervalMs: number;
  /** How often grown timelines are cut back to their length (ms). */
  trimIntervalMs: number;
  /** Posts (and friendships) per pass at most. */
  batch: number;
}
