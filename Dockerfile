# One image for every process: ingest, api, usage-worker and the migrate step pick their entry
# file with the container command (see docker-compose.yml).

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci's postinstall (patch-package) applies patches/, so they must be here before it runs:
# without them it finds nothing to apply and exits 0, shipping postgres.js unpatched.
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund
# Fails the build unless the postgres.js that ships (cjs is what the apps load) carries the fix
# from patches/postgres+3.4.9.patch; update this check with the patch.
RUN grep -q 'porsager/postgres#1208' node_modules/postgres/cjs/src/connection.js \
  || { echo 'postgres.js is not patched: see patches/' >&2; exit 1; }

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and only readable by the app user: the processes never write to their code.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# migrate.main.js reads the SQL migrations from drizzle/ at the repository root.
COPY --from=build /app/drizzle ./drizzle
# Sales-tax rates (TAX_US_RATES_FILE, TAX_COUNTRY_RATES_FILE), read at boot from the working directory.
COPY --from=build /app/data/tax ./data/tax
USER node
EXPOSE 3000 3001 3002
CMD ["node", "dist/apps/ingest/src/main.js"]
