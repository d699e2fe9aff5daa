# syntax=docker/dockerfile:1
# cio-gateway: compile in one stage, run the build output on production dependencies only.
#   docker build -t cio-gateway:0.1.0 .
#   docker run -p 8080:8080 cio-gateway:0.1.0          # the default routes.yaml, NDJSON files in the /data volume
#   docker run -p 8080:8080 -v $PWD/routes.yaml:/etc/cio-gateway/routes.yaml:ro cio-gateway:0.1.0
# No HEALTHCHECK: Kubernetes probes /healthz and /readyz itself (see helm/cio-gateway).
# Node 24 (LTS): Node 20 is out of support (SPEC §14).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: nothing the build needs compiles natively, and none run unreviewed.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY plugins ./plugins
RUN npm run build
# The data directory the process writes to (the default config's file sink): created here, since
# the runtime stage runs nothing, and copied with the runtime user as its owner.
RUN mkdir -p /data/events

FROM ${NODE_IMAGE} AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    CIO_GATEWAY_CONFIG=/etc/cio-gateway/routes.yaml \
    CIO_GATEWAY_DATA_DIR=/data/events
WORKDIR /app
# Owned by root and read-only to the process: the code cannot be changed by what it runs.
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# The default config (what `npm start` runs: embedded queue, or Redis with REDIS_URL), read-only;
# mount your own over it. Its file sink writes to $CIO_GATEWAY_DATA_DIR, in the volume below.
COPY routes.yaml /etc/cio-gateway/routes.yaml
# The only place the process writes: owned by the runtime user, a volume so that data outlive the container.
COPY --from=build --chown=1000:1000 /data /data
VOLUME ["/data"]
# The image's `node` user, by number so Kubernetes can verify runAsNonRoot.
USER 1000:1000
EXPOSE 8080
STOPSIGNAL SIGTERM
# Exec form: node is PID 1 and gets SIGTERM itself; the gateway's close-with-grace handler drains
# requests and flushes batches (no shell in between to swallow the signal).
ENTRYPOINT ["node", "bin/cio-gateway.js"]
CMD ["serve"]
