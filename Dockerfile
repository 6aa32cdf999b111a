# syntax=docker/dockerfile:1
# A static redferry binary in a small image that runs as a non-root user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/redferry ./cmd/redferry
# The state dir must exist in the image, owned by nonroot (65532): a new
# named volume copies it, owner included; otherwise it is root's and unwritable.
RUN mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/redferry /usr/local/bin/redferry
COPY --from=build --chown=65532:65532 /out/state /var/lib/redferry
# The spool and checkpoint live here: mount a volume.
VOLUME ["/var/lib/redferry"]
# The status server listens on all of the container's interfaces so that
# Prometheus can scrape /metrics. Requests that change state (POST /cutover
# pauses the source's writes, PUT /loglevel) then need its token, and
# redferry refuses to start without one: mount a file readable by uid 65532
# and point REDFERRY_STATUS_TOKEN_FILE at it (or set REDFERRY_STATUS_TOKEN):
#   -v /etc/redferry/status.token:/run/secrets/status.token:ro
#   -e REDFERRY_STATUS_TOKEN_FILE=/run/secrets/status.token
# GET endpoints (/metrics, /status, /healthz, /readyz) need no token.
ENV REDFERRY_STATE_DIR=/var/lib/redferry \
    REDFERRY_STATUS_ADDR=0.0.0.0:9470 \
    REDFERRY_LOG_FORMAT=json
EXPOSE 9470
USER nonroot:nonroot
# Healthy while the daemon answers on its status address (no shell or curl
# in the image: redferry asks itself; GET /status needs no token).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s CMD ["/usr/local/bin/redferry", "status"]
# SIGTERM applies the batch in flight and flushes state: give it time
# (docker stop -t 60).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/redferry"]
CMD ["sync"]
