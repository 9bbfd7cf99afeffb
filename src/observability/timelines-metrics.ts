// The home timelines' fan-out (src/services/timelines/): how far behind it is, and how much it writes.
import { Counter, Histogram, type Registry } from 'prom-client';

export function createTimelinesMetrics(registers: Registry[]) {
  const lag = new Histogram({
    name: 'agora_timeline_fanout_lag_seconds',
    help: 'Seconds from a post being created to its fan-out into its friends\u2019 timelines (the oldest post of each pass that handled any).',
    buckets: [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60],
    registers,
  });
  const posts = new Counter({ name: 'agora_timeline_posts_fanned_out_total', help: 'General posts the fan-out has handled.', registers });
  const entries = new Counter({ name: 'agora_timeline_entries_written_total', help: 'Entries the fan-out has written into home timelines (new posts and new friendships).', registers });
  return {
    /** Pass as the fan-out's `onPass`. */
    onPass(outcome: { posts: number; entries: number; maxLagSeconds: number }): void {
      if (outcome.posts > 0) lag.observe(outcome.maxLagSeconds);
      posts.inc(outcome.posts);
      entries.inc(outcome.entries);
    },
  };
}
