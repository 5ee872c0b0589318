# syntax=docker/dockerfile:1
# Two images from one file (deploy/docker/README.md says why):
#   docker build --target runtime -t haddock:0.1.0 .      users, quotes, search, gateway (the role is the command)
#   docker build --target ops     -t haddock-ops:0.1.0 .  the operations service and the haddock CLI, with redis-server 7.0
# Tags are pinned here; the release pipeline adds the digests (they cannot be looked up offline).
# What lands in /app is deploy/docker/image-files.json, no more, no less: test/deploy/dockerfile.test.ts checks it.

# kubectl for the Kubernetes configuration export (spec 6.4.3), copied into the ops image: the official image has
# no shell to write and rotate the export files itself.
FROM registry.k8s.io/kubectl:v1.30.14 AS kubectl

# Production dependencies only: no tsx, no typescript, no install scripts.
FROM node:22.22.0-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# The compiled output: npm run build (tsconfig.build.json, src → dist).
FROM node:22.22.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src/ ./src/
RUN npm run build

# The services and the gateway: distroless Node 22, uid 65532, no shell.
FROM gcr.io/distroless/nodejs22-debian12:nonroot AS runtime
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="haddock" \
      org.opencontainers.image.description="Haddock users, quotes and search services and the gateway (the role is the command)" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
WORKDIR /app
ENV NODE_ENV=production \
    TMPDIR=/tmp
COPY --from=deps /app/node_modules/ /app/node_modules/
COPY --from=build /app/dist/ /app/dist/
COPY package.json package-lock.json /app/
COPY bin/haddock.mjs /app/bin/haddock.mjs
COPY data/ /app/data/
COPY deploy/docker/healthcheck.mjs /app/deploy/docker/healthcheck.mjs
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node"]
# users by default; compose and Kubernetes pass dist/services/quotes/server.js, …/search/server.js or
# dist/platform/gateway/server.js, and the matching health check URL.
CMD ["dist/services/users/server.js"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/nodejs/bin/node", "/app/deploy/docker/healthcheck.mjs", "http://127.0.0.1:8001/users/health/live"]

# Node 22's binary for the ops image, from the official build.
FROM node:22.22.0-bookworm-slim AS node

# The operations service and the haddock CLI: Debian 12 for Debian's redis-server 7.0 (backups, restore drills).
FROM debian:12.11-slim AS ops
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="haddock-ops" \
      org.opencontainers.image.description="Haddock operations service and haddock CLI, with redis-server 7.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
RUN apt-get update \
 && apt-get install -y --no-install-recommends 'redis-server=5:7.0.*' libstdc++6 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 haddock \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin haddock \
 && mkdir -p /var/lib/haddock/backups \
 && chown -R 10001:10001 /var/lib/haddock
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=kubectl /bin/kubectl /usr/local/bin/kubectl
WORKDIR /app
ENV NODE_ENV=production \
    TMPDIR=/tmp \
    BACKUP_DIR=/var/lib/haddock/backups \
    REDIS_SERVER_BIN=/usr/bin/redis-server
COPY --from=deps /app/node_modules/ /app/node_modules/
COPY --from=build /app/dist/ /app/dist/
COPY package.json package-lock.json /app/
COPY bin/haddock.mjs /app/bin/haddock.mjs
COPY data/ /app/data/
COPY deploy/docker/healthcheck.mjs /app/deploy/docker/healthcheck.mjs
RUN ln -s /app/bin/haddock.mjs /usr/local/bin/haddock
VOLUME ["/var/lib/haddock/backups"]
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/node"]
CMD ["dist/services/ops/server.js"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/node", "/app/deploy/docker/healthcheck.mjs", "http://127.0.0.1:8004/ops/health/live"]
