# syntax=docker/dockerfile:1
# Multi-stage build of the programs as static binaries in a distroless,
# non-root image. The consumer is the default entrypoint; run the
# simulator with `--entrypoint /usr/local/bin/producer-sim` and the
# operator's CLI (and the read API, `serve`) with
# `--entrypoint /usr/local/bin/ltvctl`.
#
#   docker build -t ltv-stream .
#   docker run --rm -e LTV_KAFKA_BROKERS=kafka:9092 -e LTV_REDIS_URL=redis://redis:6379/0 ltv-stream

ARG GO_VERSION=1.26.8
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Dependencies first: this layer is cached until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false \
      -ldflags "-s -w" -o /out/consumer ./cmd/consumer && \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false \
      -ldflags "-s -w" -o /out/producer-sim ./cmd/producer-sim && \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false \
      -ldflags "-s -w" -o /out/ltvctl ./cmd/ltvctl

# distroless/static: CA certificates and tzdata, no shell, no package
# manager; the :nonroot tag runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/consumer /out/producer-sim /out/ltvctl /usr/local/bin/
USER 65532:65532
# 8080: the consumer's probes and metrics; 8081: `ltvctl serve`, the read API.
EXPOSE 8080 8081
# No shell or curl in the image: the binary probes its own /readyz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/consumer", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/consumer"]
