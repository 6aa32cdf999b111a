# syntax=docker/dockerfile:1
# A static redferry binary in a small image that runs as a non-root user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/redferry ./cmd/redferry

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/redferry /usr/local/bin/redferry
# The spool and checkpoint live here: mount a volume.
VOLUME ["/var/lib/redferry"]
ENV REDFERRY_STATE_DIR=/var/lib/redferry \
    REDFERRY_STATUS_ADDR=0.0.0.0:9470 \
    REDFERRY_LOG_FORMAT=json
EXPOSE 9470
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/redferry"]
CMD ["sync"]
