// The whole HTTP app built without a database: services over an ORM nothing touches while the
// app is built, so a test can look at what start-up does (routes, compiled schemas) in-process.
import { loadConfig } from '../../src/config.ts';
import { createHandlers } from '../../src/domains/index.ts';
import type { Handlers } from '../../src/handlers/index.ts';
import type { AppOptions } from '../../src/http/app.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import type { Orm } from '../../src/persistence/orm.ts';
import { appOptions, createServices } from '../../src/server.ts';

/** The app's options with the default settings and every v1 handler, or `handlers` from `withHandlers`. */
export function offlineAppOptions(withHandlers?: (all: Handlers) => Handlers): AppOptions {
  const config = loadConfig({});
  const services = createServices({} as Orm, config);
  const all = createHandlers(services).v1;
  return appOptions(services, config, {
    handlers: withHandlers ? withHandlers(all) : all,
    logger: false,
    metrics: createMetrics().http,
    readiness: { database: async () => true, migrations: async () => true },
    databaseAvailable: () => true,
    isUnavailable: () => false,
  });
}
