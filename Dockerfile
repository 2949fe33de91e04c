# syntax=docker/dockerfile:1
#
# The breakerbox service image (docker compose builds it; or: docker build -t breakerbox .).
#
# Stage "build" installs every dependency, compiles TypeScript and writes the project's small
# deterministic embedding models (offline, no download); stage "runtime" keeps the compiled
# code, production dependencies and models only, and runs as the unprivileged node user.
# Nothing is fetched at run time: EMBEDDING_ALLOW_DOWNLOAD stays false and the models are in
# the image.

FROM node:20-bookworm-slim AS build
WORKDIR /app
ENV npm_config_audit=false \
    npm_config_fund=false \
    npm_config_update_notifier=false
# npm workspaces: the service (the root package) and the breakerbox library it depends on.
# Scripts are skipped at install (the root's `prepare` would build before the sources are
# copied); `npm run build` below builds every package.
COPY package.json package-lock.json ./
COPY packages/breakerbox/package.json ./packages/breakerbox/package.json
COPY packages/devkit/package.json ./packages/devkit/package.json
RUN npm ci --ignore-scripts
COPY tsconfig.base.json tsconfig.json tsconfig.build.json ./
COPY packages/breakerbox/tsconfig.json packages/breakerbox/tsconfig.build.json ./packages/breakerbox/
COPY packages/breakerbox/src ./packages/breakerbox/src
COPY src ./src
RUN npm run build
# The text and code models the service uses by default (see src/cli/make-test-model.ts).
RUN node dist/cli/make-test-model.js --if-missing models/breakerbox-mini-text models/breakerbox-mini-code
RUN npm prune --omit=dev

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=8001 \
    MODELS_DIR=/app/models \
    EMBEDDING_MODEL=/app/models/breakerbox-mini-text \
    CODE_EMBEDDING_MODEL=/app/models/breakerbox-mini-code \
    EMBEDDING_ALLOW_DOWNLOAD=false \
    OTEL_EXPORTER_PROMETHEUS_HOST=0.0.0.0 \
    OTEL_EXPORTER_PROMETHEUS_PORT=9464
WORKDIR /app
# Owned by root and read-only for the node user: the service never writes its own code.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
# node_modules/breakerbox links here: the library's manifest and build.
COPY --from=build /app/packages/breakerbox/package.json ./packages/breakerbox/package.json
COPY --from=build /app/packages/breakerbox/dist ./packages/breakerbox/dist
COPY --from=build /app/dist ./dist
COPY --from=build /app/models ./models
USER node
EXPOSE 8001 9464
# No curl/wget in the slim image, and none needed: Node's fetch asks the liveness route.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8001)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# A heap limit, so a leak ends in a restart (compose restarts the replica) instead of swapping
# the host: 512 MiB holds the L1 cache at its 64 MiB default several times over. `npm start`
# sets the same limit; raise both together with CACHE_L1_MAX_BYTES.
CMD ["node", "--max-old-space-size=512", "dist/main.js"]
