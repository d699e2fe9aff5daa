# syntax=docker/dockerfile:1
# cio-gateway: compile in one stage, run the build output on production dependencies only.
#   docker build -t cio-gateway:0.1.0 .
#   docker run -p 8080:8080 -v $PWD/routes.yaml:/etc/cio-gateway/routes.yaml:ro cio-gateway:0.1.0
# No HEALTHCHECK: Kubernetes probes /healthz and /readyz itself (see helm/cio-gateway).
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: nothing the build needs compiles natively, and none run unreviewed.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY plugins ./plugins
RUN npm run build

FROM ${NODE_IMAGE} AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    CIO_GATEWAY_CONFIG=/etc/cio-gateway/routes.yaml
WORKDIR /app
# Owned by root and read-only to the process: the code cannot be changed by what it runs.
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# The image's `node` user, by number so Kubernetes can verify runAsNonRoot.
USER 1000:1000
EXPOSE 8080
STOPSIGNAL SIGTERM
# Exec form: node is PID 1 and gets SIGTERM itself; the gateway's close-with-grace handler drains
# requests and flushes batches (no shell in between to swallow the signal).
ENTRYPOINT ["node", "bin/cio-gateway.js"]
CMD ["serve"]
