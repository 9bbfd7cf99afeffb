// A worker process for the job queue tests: boots as `npm run worker` does (no HTTP API), on the
// database of DATABASE_URL, with short polling and supervision and the consumer of the test queue
// `test-effects` (see testEffects). One JSON log line per line on stdout; SIGTERM closes the boot
// (the graceful shutdown src/process.ts does) and exits 0.
import { boot } from '../../src/boot.ts';
import { loadConfig } from '../../src/config.ts';
import { loggerOptions } from '../../src/http/logger.ts';
import { takeOverSignals } from '../../src/persistence/embedded-postgres.ts';
import { testEffects } from './jobs.ts';

const config = loadConfig({ ...process.env, METRICS_PORT: '0' });
const booting = boot(config, {
  logger: loggerOptions({ level: 'info', pretty: false, stream: process.stdout }),
  roles: { api: false },
  migrate: false,
  listen: { host: '127.0.0.1', port: 0, metricsPort: 0 },
  jobTuning: { pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1, schedules: [], consumers: [testEffects((line) => process.stdout.write(`${JSON.stringify(line)}\n`))] },
});
takeOverSignals(); // as src/process.ts: SIGTERM is ours, for a graceful shutdown
process.on('SIGTERM', () => {
  void booting.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
await booting;
