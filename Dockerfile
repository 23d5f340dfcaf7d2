# Herald: one image for every role; the command picks it (api | worker).
# Temporal runs as its own service (see docker-compose.yml), so no Temporal binaries live here.
FROM node:20-slim

WORKDIR /app
ENV NODE_ENV=production

COPY package.json package-lock.json ./
# tsx is a runtime dependency: Herald runs its TypeScript as is, without a build step.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities

USER node
# API, worker-only /metrics, Temporal SDK worker metrics
EXPOSE 3000 9464 9465
ENTRYPOINT ["node", "--import", "tsx", "src/main.ts"]
CMD ["api"]
