#!/usr/bin/env bash
# The test and demo identity provider (npm oidc-provider, pinned by tests/idp/package-lock.json).
# Usage: scripts/idp.sh install | test
set -euo pipefail
dir=$(cd "$(dirname "$0")/../tests/idp" && pwd)
install() {
  # npm ci again only when the lock file changed since the last install.
  local want have=""
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  [ -f "$dir/node_modules/.lock-sha256" ] && have=$(cat "$dir/node_modules/.lock-sha256")
  if [ "$want" != "$have" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$dir/node_modules/.lock-sha256"
  fi
}
case "${1:-}" in
  install) install ;;
  test) install; (cd "$dir" && npm test) ;;
  *) echo "usage: $0 install|test" >&2; exit 2 ;;
esac
