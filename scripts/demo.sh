#!/usr/bin/env bash
# A demo sync on this machine: a Redis 7.0 source and a Valkey 9.1 target on
# loopback, a dataset of every type written to the source, `redferry sync
# --once` between them with progress, then `redferry verify` shows they match.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SERVERS="${REDFERRY_SERVERS:-$ROOT/.cache/servers}"
BIN="$ROOT/bin/redferry"
CLI="$SERVERS/tools/redis-cli"
KEYS="${DEMO_KEYS:-200000}"

server() { ls "$SERVERS/bin/" | grep "^$1" | sort | tail -1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# A signal (Ctrl-C, or `make demo | head` closing the pipe) would end bash
# without the EXIT trap and leave the servers running: exit instead.
trap 'exit 130' INT TERM HUP PIPE

start() { # name port
  mkdir -p "$WORK/$1-$2"
  "$SERVERS/bin/$1" --port "$2" --bind 127.0.0.1 --dir "$WORK/$1-$2" --save "" --logfile "$WORK/$1-$2/log" \
    --repl-diskless-sync-delay 0 &
  PIDS+=($!)
  for _ in $(seq 100); do "$CLI" -p "$2" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "demo: $1 did not start" >&2; exit 1
}

SRC=$(server redis-7.0); DST=$(server valkey-9.1)
SP=$(free_port); start "$SRC" "$SP"
DP=$(free_port); start "$DST" "$DP"
echo "== source: $SRC on 127.0.0.1:$SP    target: $DST on 127.0.0.1:$DP"

# Exactly $KEYS keys: $OTHERS of the other types, the rest strings key:1..N from
# a sequential generator piped to redis-cli --pipe (redis-benchmark -r draws
# random key names, with repeats, so it leaves fewer keys than it writes).
OTHERS=300
STRINGS=$((KEYS - OTHERS))
if ((STRINGS < 0)); then echo "demo: DEMO_KEYS must be at least $OTHERS" >&2; exit 1; fi
echo "== filling the source with $KEYS keys ($STRINGS strings; 50 each of lists, sets, sorted sets, hashes, strings with a TTL, streams)"
awk -v n="$STRINGS" 'BEGIN {
  for (i = 1; i <= n; i++) {
    k = "key:" i; v = "value:" i
    printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
  }
}' | "$CLI" -p "$SP" --pipe >/dev/null
for i in $(seq 1 50); do
  echo "RPUSH list:$i $(seq -s ' ' 1 200)"
  echo "SADD set:$i $(seq -s ' ' 1 100)"
  echo "ZADD zset:$i 1.5 a -inf b inf c 0.1 d 3.141592653589793 e"
  echo "HSET hash:$i f1 v1 f2 v2 f3 v3"
  echo "SET ttl:$i v EX 3600"
  echo "XADD stream:$i * sensor $i value 42"
done | "$CLI" -p "$SP" >/dev/null
"$CLI" -p "$SP" XGROUP CREATE stream:1 readers 0 >/dev/null
"$CLI" -p "$SP" XREADGROUP GROUP readers alice COUNT 1 STREAMS stream:1 '>' >/dev/null
HELD=$("$CLI" -p "$SP" dbsize)
echo "   source dbsize: $HELD"
if ((HELD != KEYS)); then echo "demo: the source holds $HELD keys, not $KEYS" >&2; exit 1; fi

echo "== redferry sync --once"
"$BIN" sync --source "redis://127.0.0.1:$SP" --target "redis://127.0.0.1:$DP" \
  --state-dir "$WORK/state" --status-addr "" --once --progress always --log-format console

echo "== redferry verify"
"$BIN" verify --source "redis://127.0.0.1:$SP" --target "redis://127.0.0.1:$DP"
echo "   target dbsize: $("$CLI" -p "$DP" dbsize) (one more: redferry's checkpoint key)"
