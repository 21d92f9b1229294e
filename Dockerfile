# syntax=docker/dockerfile:1
#
# Signet's image: the manager (/manager) and the token server (/token-server),
# both static binaries on distroless "nonroot". The Helm chart (charts/signet)
# and config/manager run both containers from this one image.
#
# "make image" builds the same image without a container engine or a base
# image to pull (internal/image: its own base layer with CA certificates
# and the nonroot user 65532); test/chart checks that this file, that
# image and the chart agree on the user, the paths, the entrypoint, the
# labels and the build flags. Keep the COPY lines in step with the packages
# the two binaries import (go list -deps ./cmd/...) and with .dockerignore.
# Build, for example:
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     -t ghcr.io/signet-iam/signet:0.1.0 .

ARG GO_VERSION=1.26

# The builder runs on the build machine's platform and cross-compiles, which
# CGO_ENABLED=0 makes cheap.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src

# Modules first: a source change reuses this layer and the module cache.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/manager ./cmd/token-server

# distroless/static: no shell, no package manager, CA certificates and
# tzdata only. "nonroot" runs as 65532, which the chart's securityContext
# (runAsNonRoot, runAsUser 65532) and a read-only root filesystem expect.
FROM gcr.io/distroless/static:nonroot
LABEL org.opencontainers.image.title="signet" \
      org.opencontainers.image.description="Machine identities and OAuth2 tokens for Kubernetes: the Signet manager and token server" \
      org.opencontainers.image.source="https://github.com/signet-iam/signet" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/manager /manager
COPY --from=builder /out/token-server /token-server
USER 65532:65532
ENTRYPOINT ["/manager"]
