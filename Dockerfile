# syntax=docker/dockerfile:1
# One image for both processes of the service: the command picks which.
#   web:    npm run web      (the default CMD)
#   worker: npm run worker
# The build stage compiles src/ to dist/ (with the dev packages: TypeScript);
# the final stage holds dist/, production packages only (no TypeScript, no
# tsx: plain node runs the JavaScript) and the prebuilt workflow bundle.

ARG NODE_IMAGE=node:20-slim

# --- terraform: the pinned CLI, checked against HashiCorp's published SHA-256 ---
FROM ${NODE_IMAGE} AS terraform
ARG TERRAFORM_VERSION=1.11.4
# SHA256SUMS of terraform_1.11.4_linux_{amd64,arm64}.zip as HashiCorp publishes them.
ARG TERRAFORM_SHA256_AMD64=1ce994251c00281d6845f0f268637ba50c0005657eb3cf096b92f753b42ef4dc
ARG TERRAFORM_SHA256_ARM64=a43d1d0da9b9bab214a8305a39db0e40869572594ccf50c416a7756499143633
# Set by BuildKit from --platform; amd64 when built without it.
ARG TARGETARCH
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl unzip \
 && rm -rf /var/lib/apt/lists/*
RUN arch="${TARGETARCH:-amd64}" \
 && case "${arch}" in \
      amd64) sha="${TERRAFORM_SHA256_AMD64}" ;; \
      arm64) sha="${TERRAFORM_SHA256_ARM64}" ;; \
      *) echo "no pinned terraform checksum for ${arch}" >&2; exit 1 ;; \
    esac \
 && curl -fsSLo /tmp/terraform.zip \
      "https://releases.hashicorp.com/terraform/${TERRAFORM_VERSION}/terraform_${TERRAFORM_VERSION}_linux_${arch}.zip" \
 && echo "${sha}  /tmp/terraform.zip" | sha256sum -c - \
 && unzip -q /tmp/terraform.zip terraform -d /usr/local/bin \
 && rm /tmp/terraform.zip \
 && /usr/local/bin/terraform version

# --- deps: production node_modules; better-sqlite3 is native, so the compilers stay in this stage ---
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# --- build: src/ → dist/ (type-checked), with every package; only dist/ leaves this stage ---
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No native builds here (nothing runs but the TypeScript compiler), so no compilers either.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs ./scripts/
COPY src ./src
RUN npm run build

# --- runtime: web or worker ---
FROM ${NODE_IMAGE} AS runtime
# Terraform (a Go binary) verifies TLS against the system CA store, which slim images lack.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=terraform /usr/local/bin/terraform /usr/local/bin/terraform
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root package.json package-lock.json ./
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root terraform ./terraform
# healthcheck.mjs for HEALTHCHECK; build.mjs because `npm run web`/`worker` run it first (without
# src/ it only checks that dist/ is there).
COPY --chown=root:root scripts/healthcheck.mjs scripts/build.mjs ./scripts/
# The workflow bundle (of dist/workflows), built here once so that no worker runs webpack: it lands in
# node_modules/.cache/provisioning-service/workflow-bundles (read-only at run time), named by
# a hash of the workflow code, which the worker checks at start.
RUN node dist/worker/bundleWorkflowsCli.js
# The code is root-owned and read-only for the app user; only these are writable.
# Named volumes mounted here take this ownership on first use.
RUN mkdir -p /data/jobs /cache/terraform-plugins \
 && chown -R node:node /data /cache
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/data \
    JOBS_WORKDIR=/data/jobs \
    TF_PLUGIN_CACHE_DIR=/cache/terraform-plugins \
    TERRAFORM_MODULE_DIR=/app/terraform \
    NPM_CONFIG_UPDATE_NOTIFIER=false
# The image's own non-root user, node (uid 1000), by number so the runtime need not resolve the name.
USER 1000:1000
EXPOSE 8000
# web: GET /health; the worker's compose service overrides this with `healthcheck.mjs worker`.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "scripts/healthcheck.mjs"]
CMD ["npm", "run", "web"]
