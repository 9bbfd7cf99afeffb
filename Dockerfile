# The Agora server's image: one image for every process of the deployment (deploy/compose.yaml,
# deploy/kubernetes/): an API instance (the default command), a worker (`node … dist/worker.js`)
# and a domain server (the same command with SERVE_DOMAINS). Build: `docker build -t agora .`

# ---- build: all dependencies, the TypeScript build, then only the production dependencies
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY . .
# `npm ci` also builds the SDK workspace (its `prepare`); then the server, then the development
# dependencies go.
RUN npm ci && npm run build && npm prune --omit=dev && rm -rf test bench sdk/src sdk/examples

# ---- runtime: the build output, the specs the server validates against, production modules
FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    METRICS_PORT=9464 \
    LOG_FORMAT=json
WORKDIR /app
COPY --from=build --chown=root:root /app /app
# Not root: the server needs to write nothing (logs go to stdout; the embedded PostgreSQL is for
# development: set DATABASE_URL).
USER node
EXPOSE 3000 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# `npm start` without npm: the same environment and Node flags as package.json's start script
# (README: Memory). MALLOC_ARENA_MAX=2: glibc's allocator keeps two arenas, not one per thread;
# the two thresholds, fixed: it gives freed memory back to the system past 128 KiB, always.
ENV MALLOC_ARENA_MAX=2
ENV MALLOC_TRIM_THRESHOLD_=131072
ENV MALLOC_MMAP_THRESHOLD_=131072
# Node runs as PID 1 and handles SIGTERM itself (graceful shutdown, SHUTDOWN_TIMEOUT_MS).
CMD ["node", "--max-semi-space-size=8", "--heap-growing-percent=15", "--no-allocation-site-pretenuring", "dist/main.js"]
