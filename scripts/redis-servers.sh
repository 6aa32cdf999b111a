#!/usr/bin/env bash
# Fetches real Redis and Valkey servers from Debian's archive and unpacks them
# into a cache dir, without touching the machine's own apt state. Each server
# gets a launcher in $CACHE/bin named after its version (redis-6.0, valkey-9.1, ...)
# that runs it with the libc of its own suite.
#
# Usage: scripts/redis-servers.sh [CACHE_DIR]   (default: .cache/servers)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${1:-${REDFERRY_SERVERS:-$ROOT/.cache/servers}}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
mkdir -p "$CACHE/bin"

# suite -> packages to unpack (server plus the shared libraries it loads)
NEWLIBS="libc6 libstdc++6 libgcc-s1 libatomic1 libjemalloc2 liblzf1 libssl3t64 libsystemd0 libcap2 libgcrypt20 libgpg-error0 liblz4-1 liblzma5 libzstd1 zlib1g"
declare -A PKGS=(
  [bullseye]="redis-server redis-tools libjemalloc2 liblzf1 libssl1.1 liblua5.1-0 lua-cjson lua-bitop"
  [bookworm]="redis-server redis-tools libjemalloc2 liblzf1 liblua5.1-0 lua-cjson lua-bitop"
  [trixie]="redis-server redis-tools valkey-server valkey-tools $NEWLIBS"
  [sid]="redis-server redis-tools valkey-server valkey-tools $NEWLIBS"
  [experimental]="redis-server/experimental redis-tools/experimental $NEWLIBS"
)
# Suites whose packages come from another suite's archive too: experimental
# holds only the new packages; their libraries come from sid.
declare -A EXTRA=([experimental]=sid)

fetch_suite() {
  local suite=$1 dir="$CACHE/$suite"
  if [[ -f "$dir/.done" ]]; then return; fi
  mkdir -p "$dir/lists/partial" "$dir/debs" "$dir/root" "$dir/archives/partial"
  echo "deb [signed-by=$KEYRING] $MIRROR $suite main" >"$dir/sources.list"
  if [[ -n "${EXTRA[$suite]:-}" ]]; then
    echo "deb [signed-by=$KEYRING] $MIRROR ${EXTRA[$suite]} main" >>"$dir/sources.list"
  fi
  # An empty dpkg status and no preferences: what the machine has installed
  # (Debian's own redis-server, say) must not become apt's candidate version.
  : >"$dir/status"
  local opts=(-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::status=$dir/status" -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
    -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache::Archives=$dir/archives"
    -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o Debug::NoLocking=1 -o APT::Sandbox::User=root -o APT::Get::List-Cleanup=0)
  echo "redis-servers: fetching $suite" >&2
  apt-get -qq "${opts[@]}" update
  (cd "$dir/debs" && apt-get -qq "${opts[@]}" download ${PKGS[$suite]})
  for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$dir/root"; done
  rm -rf "$dir/debs" "$dir/archives" "$dir/lists" "$dir/status"
  touch "$dir/.done"
}

# runner SUITE BINARY -> the shell line that runs BINARY of SUITE with its own libraries
runner() {
  local suite=$1 binary=$2 dir="$CACHE/$1/root"
  case $suite in
    bullseye | bookworm)
      echo "LD_LIBRARY_PATH=$dir/usr/lib/x86_64-linux-gnu:$dir/lib/x86_64-linux-gnu exec $dir/usr/bin/$binary \"\$@\"" ;;
    *)
      echo "exec $dir/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path $dir/usr/lib/x86_64-linux-gnu:$dir/lib/x86_64-linux-gnu $dir/usr/bin/$binary \"\$@\"" ;;
  esac
}

# launcher SUITE BINARY FAMILY: $CACHE/bin/FAMILY-VERSION runs that server
launcher() {
  local suite=$1 binary=$2 family=$3 dir="$CACHE/$1/root" name ver
  [[ -x "$dir/usr/bin/$binary" ]] || return 0
  local run; run=$(runner "$suite" "$binary")
  local tmp; tmp=$(mktemp)
  printf '#!/bin/sh\n%s\n' "$run" >"$tmp"; chmod +x "$tmp"
  ver=$("$tmp" --version | sed -n 's/.* v=\([0-9.]*\).*/\1/p')
  name="$family-$ver"
  mv "$tmp" "$CACHE/bin/$name"
  echo "$name"
}

SUITES="bullseye bookworm trixie sid experimental"
for suite in $SUITES; do fetch_suite "$suite"; done
rm -f "$CACHE"/bin/*
for suite in $SUITES; do
  launcher "$suite" redis-server redis
  launcher "$suite" valkey-server valkey
done

# Client tools (redis-cli, redis-benchmark) of the machine's own suite, for the demo and benchmarks.
mkdir -p "$CACHE/tools"
for tool in redis-cli redis-benchmark; do
  printf '#!/bin/sh\n%s\n' "$(runner bookworm $tool)" >"$CACHE/tools/$tool"
  chmod +x "$CACHE/tools/$tool"
done
