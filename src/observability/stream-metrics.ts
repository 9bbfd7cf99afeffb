// The live streams' metrics (GET /v1/stream), registered with the others (metrics.ts), fed by
// plain callbacks.
import { Counter, Gauge, type Registry } from 'prom-client';

export function createStreamMetrics(registers: Registry[]) {
  let open: () => number = () => 0;
  new Gauge({
    name: 'agora_stream_open',
    help: 'Live streams (GET /v1/stream) open on this instance.',
    registers,
    collect() {
      this.set(open());
    },
  });
  const events = new Counter({
    name: 'agora_stream_events_total',
    help: 'Events written to live streams, by type (ready, notification, message…).',
    labelNames: ['type'] as const,
    registers,
  });
  events.inc({ type: 'ready' }, 0);
  const slowClients = new Counter({
    name: 'agora_stream_slow_client_disconnects_total',
    help: 'Live streams dropped because their client did not read what was sent (STREAM_MAX_BUFFERED_BYTES waiting).',
    registers,
  });
  slowClients.inc(0);
  return {
    /** Reports the number of open streams at every scrape. */
    watchOpen(count: () => number): void {
      open = count;
    },
    /** Pass as the event-stream plugin's `onEvent`. */
    onEvent(type: string): void {
      events.inc({ type });
    },
    /** Pass as the event-stream plugin's `onSlowClient`. */
    onSlowClient(): void {
      slowClients.inc();
    },
  };
}
