# One image for every process: ingest, api, usage-worker and the migrate step pick their entry
# file with the container command (see docker-compose.yml).

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

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
