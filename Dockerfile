# syntax=docker/dockerfile:1
#
# cupbearer's container image.
#
#   docker build -t cupbearer .
#   docker run --read-only -p 8080:8080 -p 9090:9090 \
#     -v "$PWD/my.yaml:/etc/cupbearer/config.yaml:ro" cupbearer
#   docker run --rm -v "$PWD/my.yaml:/etc/cupbearer/config.yaml:ro" cupbearer check
#   docker run --rm cupbearer --version
#
# Three stages: `build` compiles and packs with the full toolchain; `package` installs that
# package with production dependencies only, from the lockfile; the final stage copies the result
# onto a distroless Node.js 24 image. test/e2e/package.test.ts proves the same thing without
# Docker: the packed tarball, installed with production dependencies only, runs `--version` and
# `check` on every example config, and writes nothing into its own folder.

# The build image matches the runtime's Debian (12, bookworm). Nothing is compiled natively today
# (no production dependency has an install script), but if one ever is, its binary will then link
# against the same glibc as the runtime. For reproducible builds, pin both FROM lines by digest
# (`node:24-bookworm@sha256:…`) and let a bot such as Renovate bump them.
ARG NODE_IMAGE=node:24-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src

# Dependencies first, in their own layer, so editing src/ does not reinstall them.
# --ignore-scripts: the `prepare` script (tsc) cannot run before the sources are copied; the build
# runs explicitly below. No dependency needs an install script to build.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

# Only what `npm run build` needs for the shipped code: tsconfig.build.json also lists demo/ and
# bench/, but tsc skips folders that are absent, and neither ships (see .dockerignore).
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build

# Pack exactly what `npm publish` would ship (`files` in package.json: dist/src, the example
# configs, README), and unpack it into /app. The image thereby contains the artifact that
# test/e2e/package.test.ts checks, and nothing from the build (no sources, tests, dev tools).
# The example configs come along: `docker run IMAGE check --config /app/config/minimal.yaml`.
COPY README.md LICENSE ./
COPY config ./config
RUN npm pack --ignore-scripts --pack-destination /tmp \
  && mkdir /app \
  && tar -xzf /tmp/cupbearer-*.tgz -C /app --strip-components=1 --no-same-owner

# ---------------------------------------------------------------------------------------------
# A clean stage: production dependencies installed from the lockfile (exact versions, the ones
# tested), rather than pruned out of the build's node_modules, so no dev package or build
# leftover can reach the image.
FROM ${NODE_IMAGE} AS package
WORKDIR /app
COPY --from=build /app ./
COPY package-lock.json ./
# --ignore-scripts: `prepare` would call tsc, which is a dev dependency; no production dependency
# has an install script (package-lock.json: none has hasInstallScript).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---------------------------------------------------------------------------------------------
# Distroless rather than node:24-slim: no shell, no package manager, no npm or corepack (which
# cupbearer never runs, but which scanners would report and an attacker could use); only Node.js
# 24 (the current LTS), glibc, libstdc++, OpenSSL, CA certificates (for https JWKS and upstreams)
# and tzdata. Debian 12 to match the build stage. The `nonroot` variant already runs as uid
# 65532; USER below restates it numerically. Debugging: the `:debug-nonroot` tag adds busybox.
FROM ${RUNTIME_IMAGE}

# Set by CI: --build-arg VERSION=$(node -p "require('./package.json').version") REVISION=$(git rev-parse HEAD)
ARG RUNTIME_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="cupbearer" \
      org.opencontainers.image.description="A sidecar proxy that lets through only requests carrying a valid Amazon Cognito token" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"

# Files stay owned by root and are only readable by the process user: the proxy cannot modify its
# own code or dependencies even if compromised.
COPY --from=package /app /app
WORKDIR /app

# NODE_ENV: the conventional signal to libraries; cupbearer itself does not read it.
# CUPBEARER_CONFIG: mount the config here (a ConfigMap, a bind mount); `--config` overrides it.
# The image carries no config of its own, so a container started without one exits 2 at once
# instead of proxying with defaults nobody chose.
ENV NODE_ENV=production \
    CUPBEARER_CONFIG=/etc/cupbearer/config.yaml

# A numeric user (not a name), so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532

# 8080: the proxy (listen, default 0.0.0.0:8080). 9090: admin /healthz /readyz /metrics; its
# default host is 127.0.0.1, so set `admin.host: 0.0.0.0` for probes and scrapes from outside the
# container. No HEALTHCHECK: the image has no client to run one, and Kubernetes ignores it; use
# httpGet probes on the admin port instead.
EXPOSE 8080 9090

# Read-only root filesystem: cupbearer writes nothing to disk (logs go to stdout, the key and
# token caches live in memory), so `--read-only` / readOnlyRootFilesystem needs no writable
# mount, not even /tmp.
#
# Exec form, node as PID 1, no shell in between: SIGTERM goes straight to Node, where cupbearer
# turns /readyz to 503, drains in-flight requests for up to shutdown.drainTimeoutMs (10 s by
# default) and exits 0. Give the container a longer stop grace period than that (docker stop -t,
# terminationGracePeriodSeconds). PID 1 needs no init: cupbearer spawns no children to reap, and
# it installs its own SIGTERM/SIGINT handlers (the kernel drops default-action signals to PID 1).
#
# ENTRYPOINT is node on the CLI, CMD the subcommand, so arguments replace only the subcommand:
# `docker run IMAGE check`, `docker run IMAGE --version`, `docker run IMAGE start --config F`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/src/cli.js"]
CMD ["start"]
