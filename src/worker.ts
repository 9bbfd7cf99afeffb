// `npm run worker`: the job consumers and schedules alone (src/jobs/), with the same config,
// services and boot as `npm start`, but no HTTP API; only /metrics (METRICS_PORT) is served. Run
// as many as the backlog needs, beside API instances started with WORKER=off.
import { runProcess } from './process.ts';

await runProcess({ api: false, worker: true });
