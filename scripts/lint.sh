#!/usr/bin/env bash
# `make lint`: gofmt and golangci-lint (.golangci.yml). golangci-lint is
# installed on first use with `go install` into bin/tools, pinned, so
# every machine and CI run the same checks (a few minutes the first time,
# then cached). `--tools-only` installs it and stops (make test runs that
# at low priority while the Go tests run).
set -euo pipefail
cd "$(dirname "$0")/.."

GOLANGCI_LINT_VERSION="${GOLANGCI_LINT_VERSION:-v2.15.0}"
TOOLS="$PWD/bin/tools"
mkdir -p "$TOOLS"

if [ ! -x "$TOOLS/golangci-lint" ]; then
  echo "installing golangci-lint $GOLANGCI_LINT_VERSION into bin/tools" >&2
  GOBIN="$TOOLS" go install -ldflags="-s -w" \
    "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"
fi
if [ "${1:-}" = "--tools-only" ]; then
  exit 0
fi

echo "== gofmt"
unformatted="$(gofmt -l $(git ls-files '*.go'))"
if [ -n "$unformatted" ]; then
  echo "gofmt needed:"
  echo "$unformatted"
  exit 1
fi
echo "== golangci-lint"
"$TOOLS/golangci-lint" run
