#!/usr/bin/env bash
# Runs the plugin's unit tests under Yaegi v0.16.1, the interpreter Traefik v3.6 embeds.
# Usage: scripts/yaegi-test.sh [package-dir ...]   (default: . and stepup)
# Extra flags for `yaegi test` go in YAEGI_TEST_FLAGS (for example "-run TestX").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
yaegi=$("$root/scripts/tools.sh" yaegi)
gopath=$(mktemp -d)
trap 'rm -rf "$gopath"' EXIT
mkdir -p "$gopath/src/github.com/stepup-auth"
ln -s "$root" "$gopath/src/github.com/stepup-auth/traefikstepup"
[ $# -gt 0 ] || set -- . stepup
status=0
for dir in "$@"; do
  echo "yaegi test: $dir"
  # Run from inside the GOPATH so imports of the module resolve to this checkout.
  (cd "$gopath/src/github.com/stepup-auth/traefikstepup/$dir" &&
    GOPATH=$gopath GO111MODULE=off "$yaegi" test ${YAEGI_TEST_FLAGS:-} .) || status=$?
done
exit $status
