// Builds the HTTP server: transport (HTTP/1.1, h2c, or HTTPS with HTTP/2 and HTTP/1.1 over ALPN),
// third-party plugins, then ours, then the routes of the contract.
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { V1_PREFIX, V2_PREFIX, type Authenticate, type Handlers, type HandlersV2, type RunIdempotently } from '../handlers/index.ts';
import type { HttpMetrics } from '../observability/metrics.ts';
import { MAX_PATH_PARAMETER_LENGTH } from './conventions.ts';
import { authentication } from './plugins/authentication.ts';
import { caching, NOT_STORED } from './plugins/caching.ts';
import { compression } from './plugins/compression.ts';
import { conditionalRequests } from './plugins/conditional.ts';
import { contentTypes } from './plugins/content-types.ts';
import { deprecation } from './plugins/deprecation.ts';
import { docs } from './plugins/docs.ts';
import { draining } from './plugins/draining.ts';
import { eventStream, type EventStreamOptions } from './plugins/event-stream.ts';
import { clientErrorHandler, refuseUnknownMethods } from './plugins/client-errors.ts';
import { frameworkErrors, problems, sendProblem } from './plugins/errors.ts';
import { health, type ReadinessChecks } from './plugins/health.ts';
import { idempotency } from './plugins/idempotency.ts';
import { loadShedding } from './plugins/load-shedding.ts';
import { lingeringClose } from './plugins/lingering-close.ts';
import { logRequests } from './plugins/log-request.ts';
import { httpMetrics } from './plugins/metrics.ts';
import { rateLimits, type RateLimitOptions } from './plugins/rate-limit.ts';
import { genReqId, requestId } from './plugins/request-id.ts';
import { SECURITY_HEADERS, securityHeaders } from './plugins/security-headers.ts';
import { requestOver } from './request-facts.ts';
import { routes } from './routes.ts';
import { serializerCompiler } from './serialization.ts';
import type { Spec } from './spec.ts';
import { validatorCompiler } from './validation.ts';


export interface TransportOptions {
  http2: boolean;
  tls: { cert: Buffer; key: Buffer } | undefined;
}

export interface PressureOptions {
  maxEventLoopDelayMs: number;
  maxHeapUsedBytes: number;
  maxRssBytes: number;
  healthCheckIntervalMs: number;
  retryAfterSeconds: number;
}

export interface AppOptions {
  spec: Spec;
  handlers: Handlers;
  /** Version 2 (openapi-v2.yaml), served under /v2 beside version 1, on the same services. */
  v2: { spec: Spec; handlers: HandlersV2 };
  authenticate: Authenticate;
  runIdempotently: RunIdempotently;
  /** Called once per response replayed for an Idempotency-Key: the hook for a replay counter. */
  onIdempotentReplay?: (operationId: string) => void;
  logger: FastifyServerOptions['logger'];
  bodyLimitBytes: number;
  corsOrigins: string[];
  trustProxy: boolean;
  rateLimit: RateLimitOptions;
  transport: TransportOptions;
  metrics: HttpMetrics;
  pressure: PressureOptions;
  readiness: ReadinessChecks;
  /** False during a database outage: requests are then refused at once with 503. */
  databaseAvailable: () => boolean;
  /** True for errors that mean the database cannot be reached (answered 503, not 500). */
  isUnavailable: (error: unknown) => boolean;
  /** How streams (text/event-stream) are written: heartbeats, the bound on a slow client, metrics. */
  eventStream: EventStreamOptions;
  /** Runs when the app closes, after in-flight requests (e.g. to stop a background connection). */
  onClose?: () => Promise<void>;
}

function transportOptions(transport: TransportOptions) {
  if (transport.tls) {
    const https = { key: transport.tls.key, cert: transport.tls.cert };
    return transport.http2 ? { http2: true, https: { ...https, allowHTTP1: true } } : { https };
  }
  return transport.http2 ? { http2: true } : {};
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  // One Fastify type for every transport: the raw request and reply differ, and nothing of ours
  // depends on which.
  const app = Fastify({
    ...transportOptions(options.transport),
    logger: options.logger,
    bodyLimit: options.bodyLimitBytes,
    genReqId,
    requestIdHeader: false,
    // One line per request, from plugins/log-request.ts.
    logController: new LogController({ requestIdLogLabel: 'requestId', disableRequestLogging: true }),
    trustProxy: options.trustProxy,
    // plugins/draining.ts answers with a problem instead.
    return503OnClosing: false,
    // Fastify answers URLs it cannot route before any hook runs: log and count them here.
    // Their hooks never run either: set the headers they would have set.
    frameworkErrors: async (error: Error, request: FastifyRequest, reply: FastifyReply) => {
      request.server.watchRequestOver(request, reply);
      reply.headers(SECURITY_HEADERS).header('cache-control', NOT_STORED);
      const quota = await request.server.chargeAddress(request.ip);
      reply.headers(quota.headers);
      return quota.exceeded ? sendProblem(request, reply, quota.exceeded) : frameworkErrors(error, request, reply);
    },
    // Requests Node's parser refuses (unknown methods, oversized headers) get a problem too.
    clientErrorHandler: clientErrorHandler({ trustProxy: options.trustProxy }),
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PATH_PARAMETER_LENGTH },
  } as FastifyServerOptions) as unknown as FastifyInstance;
  refuseUnknownMethods(app, { trustProxy: options.trustProxy });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const retryAfterSeconds = options.pressure.retryAfterSeconds;

  await app.register(requestId);
  const apis = [
    { document: options.spec.document, prefix: V1_PREFIX },
    { document: options.v2.spec.document, prefix: V2_PREFIX },
  ];
  await app.register(problems, {
    apis,
    isUnavailable: options.isUnavailable,
    retryAfterSeconds,
  });
  // Compression before request logging: the log counts the bytes that are actually sent.
  await app.register(compression);
  await app.register(requestOver);
  await app.register(logRequests);
  await app.register(httpMetrics, { metrics: options.metrics });
  await app.register(draining, { retryAfterSeconds });
  await app.register(eventStream, options.eventStream);
  await app.register(securityHeaders, { corsOrigins: options.corsOrigins, apis });
  await app.register(caching);
  await app.register(loadShedding, {
    ...options.pressure,
    databaseAvailable: options.databaseAvailable,
    onShed: (reason) => options.metrics.loadShed.inc({ reason }),
  });
  await app.register(rateLimits, options.rateLimit);
  await app.register(lingeringClose);
  await app.register(contentTypes);
  await app.register(health, { checks: options.readiness, shedding: () => app.isUnderPressure() || !options.databaseAvailable(), retryAfterSeconds });
  // The request pipeline of every operation, outermost first (see pipeline.ts).
  const plugins = [
    authentication(options.authenticate),
    idempotency({
      runIdempotently: options.runIdempotently,
      onIdempotentReplay: (operationId) => {
        options.metrics.idempotentReplays.cell(operationId).inc();
        options.onIdempotentReplay?.(operationId);
      },
    }),
    conditionalRequests,
  ];
  // Before the routes: it hooks the deprecated ones as they are added.
  await app.register(deprecation, { document: options.spec.document, prefix: V1_PREFIX });
  await app.register(routes, { document: options.spec.document, prefix: V1_PREFIX, handlers: options.handlers, plugins });
  // Version 2 beside version 1: the same services, auth and idempotency store; its own contract.
  await app.register(routes, { document: options.v2.spec.document, prefix: V2_PREFIX, handlers: options.v2.handlers, plugins });
  await app.register(docs, { spec: options.spec, v2: options.v2.spec });
  return ready(app, options.onClose);
}

/** `app` with `onClose` run when it closes, once its plugins are loaded. */
async function ready(app: FastifyInstance, onClose: (() => Promise<void>) | undefined): Promise<FastifyInstance> {
  if (onClose) app.addHook('onClose', async () => onClose());
  await app.ready();
  return app;
}

/**
 * The app of a process that serves no API (a worker alone, `npm run worker`): its logger and its
 * closing (`onClose`), nothing else. `buildApp` would compile every route's validators and
 * serializers and parse both contracts for an app that never listens: most of a worker's start
 * and a tenth of its memory.
 */
export async function buildWorkerApp(options: { logger: FastifyServerOptions['logger']; onClose?: () => Promise<void> }): Promise<FastifyInstance> {
  return ready(Fastify({ logger: options.logger } as FastifyServerOptions) as unknown as FastifyInstance, options.onClose);
}
