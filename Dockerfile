# syntax=docker/dockerfile:1
# The manager image: a static binary on distroless, run as UID 65532 with no shell.
# The build step is the Makefile's `build` target, so `make build` proves this stage.

# A patched Go: the host toolchain (go1.26.8) has standard-library CVEs fixed in 1.26.10.
FROM golang:1.26.10 AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /workspace

# Modules first, so source edits reuse the cached download layer.
COPY go.mod go.sum ./
RUN go mod download

COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/

RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o manager ./cmd

FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
