# syntax=docker/dockerfile:1
#
# ionbus image: one static binary on distroless, running as nonroot.
#
#   docker build -t ionbus --build-arg VERSION=$(git describe --tags --always) .
#   docker run --rm -p 4000:4000 ionbus                      # one node, in memory
#   docker compose up --build                                # three nodes + Redis + nginx
#
# Configure it with IONBUS_* variables (README "Configuration") or a file
# mounted and named by IONBUS_CONFIG. The HTTP API listens on
# 127.0.0.1:4001 (inside the container) unless IONBUS_API_LISTEN or
# api.listen says otherwise: set IONBUS_API_LISTEN=0.0.0.0:4001 to reach it
# from other containers (Prometheus, the backend); without IONBUS_API_KEY it
# answers 401 to everything but /healthz. cmd/ionbus/deploy_test.go builds
# with the flags below and checks the final stage.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
# Printed by `ionbus version` (main.version).
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ionbus ./cmd/ionbus

# static-debian12 has CA certificates (rediss://, https JWKS and backend
# URLs), tzdata and a nonroot user (65532), and no shell: the health check
# is the binary itself.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ionbus /usr/local/bin/ionbus
USER nonroot:nonroot
# listen (Socket.IO, path /socket.io/) and api.listen (HTTP API, /healthz).
EXPOSE 4000 4001
# GET http://127.0.0.1:<port of IONBUS_API_LISTEN, default 4001>/healthz:
# healthy on 200, not on 503 (degraded: Redis lost; draining). With
# api.listen set only in a file, pass --url.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["ionbus", "healthcheck"]
# serve stops gracefully on SIGTERM within shutdown_timeout (10s): give
# `docker stop` more than that (docker stop -t 15, compose stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["ionbus"]
CMD ["serve"]
