#!/usr/bin/env bash
# Validates docs/asyncapi.yaml with the AsyncAPI parser (npm
# @asyncapi/parser, pinned with its whole tree in
# tools/asyncapi/package-lock.json): any error or warning fails. Node.js and
# npm are installed with apt-get when missing (Debian 12's Node 18 is
# enough), and the parser with `npm ci` into tools/asyncapi/node_modules,
# again only when the lock file changed since the last install. Install
# scripts are not run (the parser needs none; one dependency's would send
# telemetry). `--tools-only` installs and stops (make test runs that at
# low priority while the Go tests run).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=tools/asyncapi
DOC="${ASYNCAPI_DOC:-docs/asyncapi.yaml}"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node/npm not found: installing the Debian packages" >&2
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  # validate-deploy.sh may be running apt-get at the same time: wait for
  # the lock rather than fail.
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq nodejs npm >/dev/null
fi
stamp="$DIR/node_modules/.installed-lock-sha256"
want="$(sha256sum "$DIR/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "installing @asyncapi/parser into $DIR/node_modules (npm ci)" >&2
  (cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi
if [ "${1:-}" = "--tools-only" ]; then
  exit 0
fi

echo "== asyncapi parser $DOC"
node "$DIR/validate.js" "$DOC"
