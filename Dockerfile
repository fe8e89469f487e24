# syntax=docker/dockerfile:1
# The mirrord-usage image: the dashboard built with Node.js, embedded into the release binary,
# on a distroless base that runs it as a non-root user. Build from the repository root:
#   docker build -t ghcr.io/metalbear-co/mirrord-usage:0.1.0 .

# 1. The dashboard (ui/dist).
FROM node:22-bookworm-slim AS ui
WORKDIR /src/ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY ui/index.html ui/tsconfig.json ui/vite.config.ts ./
COPY ui/src ./src
RUN npm run build

# 2. The binary, with the dashboard embedded (api/server/build.rs reads MIRRORD_USAGE_UI_DIST). Built on
# the same Debian release as the runtime image, so it needs no newer glibc than that has.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crds ./crds
COPY api ./api
COPY controller ./controller
COPY tests ./tests
COPY --from=ui /src/ui/dist ./ui/dist
ENV MIRRORD_USAGE_UI_DIST=/src/ui/dist
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p mirrord-usage \
    && cp target/release/mirrord-usage /usr/local/bin/mirrord-usage

# 3. Runtime: glibc and CA certificates, no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/mirrord-usage /usr/local/bin/mirrord-usage
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/mirrord-usage"]
CMD ["controller"]
