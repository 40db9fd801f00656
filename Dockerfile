# Mandate: multi-stage build on the current Node LTS.
# Build: docker build -t mandate .
# Run:   docker run -p 3000:3000 -e REDIS_URL=redis://redis:6379 -e MANDATE_ISSUER=https://auth.example.com \
#          -e TRAVEL_APP_SECRET=... -v $PWD/keys:/app/keys:ro mandate
# CI (.ci/run) runs these same commands without Docker: npm ci, npm run build, npm ci --omit=dev,
# node dist/src/main.js, and the HEALTHCHECK command.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
COPY config ./config
RUN mkdir -p keys && chown node:node keys
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/src/main.js"]
