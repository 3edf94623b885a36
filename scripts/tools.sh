#!/usr/bin/env bash
# Installs the real parts the tests and the demo need, caching them outside the clone.
# Usage: scripts/tools.sh [traefik] [yaegi] [chromium] [wrk] [npm]
# Prints nothing on success except progress lines; idempotent.
set -euo pipefail

TRAEFIK_VERSION=${TRAEFIK_VERSION:-v3.6.12}
YAEGI_VERSION=${YAEGI_VERSION:-v0.16.1}
CACHE=${STEPUP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/traefikstepup}
BIN="$CACHE/bin"
mkdir -p "$BIN"

log() { printf 'tools: %s\n' "$*" >&2; }

need_apt() {
  # need_apt COMMAND PACKAGE: installs PACKAGE with apt-get when COMMAND is missing.
  command -v "$1" >/dev/null 2>&1 && return 0
  log "installing $2 with apt-get"
  if [ ! -f "$CACHE/.apt-updated" ]; then
    apt-get update -qq >/dev/null && touch "$CACHE/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

tool_traefik() {
  local out="$BIN/traefik-$TRAEFIK_VERSION"
  if [ -x "$out" ]; then echo "$out"; return; fi
  log "building Traefik $TRAEFIK_VERSION from its Go module (about 10 minutes the first time)"
  local dir
  dir=$(cd "$CACHE" && go mod download -json "github.com/traefik/traefik/v3@$TRAEFIK_VERSION" |
    sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
  [ -n "$dir" ] || { log "could not download Traefik $TRAEFIK_VERSION"; exit 1; }
  (cd "$dir" && go build -trimpath -o "$out.tmp" ./cmd/traefik)
  mv "$out.tmp" "$out"
  echo "$out"
}

tool_yaegi() {
  local out="$BIN/yaegi-$YAEGI_VERSION"
  if [ -x "$out" ]; then echo "$out"; return; fi
  log "installing yaegi $YAEGI_VERSION"
  GOBIN="$BIN/.yaegi-$YAEGI_VERSION" go install "github.com/traefik/yaegi/cmd/yaegi@$YAEGI_VERSION"
  mv "$BIN/.yaegi-$YAEGI_VERSION/yaegi" "$out"
  rmdir "$BIN/.yaegi-$YAEGI_VERSION"
  echo "$out"
}

tool_chromium() { need_apt chromium chromium; command -v chromium; }
tool_wrk() { need_apt wrk wrk; command -v wrk; }

for what in "$@"; do "tool_$what"; done
