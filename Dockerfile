# syntax=docker/dockerfile:1
# The manager image for Docker users: the same image as `make image` builds without a
# daemon (hack/image): the static binary of `make build` on scratch with what the manager
# needs of distroless/static:nonroot (the nonroot user and group, the CA roots, its home
# and /tmp, written by hack/image itself), run as 65532:65532, no shell.

# go.mod's toolchain: the Go without known standard-library vulnerabilities that builds
# every binary of this module, here and in `make image`.
FROM golang:1.27.3 AS builder
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
COPY hack/image/ hack/image/

RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o manager ./cmd
# /etc/passwd, /etc/group, /etc/ssl/certs/ca-certificates.crt, /home/nonroot and /tmp,
# byte for byte the files of `make image`'s first layer.
RUN go run ./hack/image rootfs -out /rootfs

FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.source=https://github.com/assocsync/associate-operator \
      org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.revision=${REVISION} \
      org.opencontainers.image.title=associate-operator \
      org.opencontainers.image.licenses=Apache-2.0
COPY --from=builder /rootfs/ /
COPY --from=builder --chown=65532:65532 /rootfs/home/nonroot/ /home/nonroot/
COPY --from=builder /workspace/manager /manager
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /
USER 65532:65532
ENTRYPOINT ["/manager"]
