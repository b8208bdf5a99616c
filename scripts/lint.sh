#!/usr/bin/env bash
# `make lint`: gofmt and golangci-lint (.golangci.yml). golangci-lint is
# installed on first use with `go install` into bin/tools, pinned, so
# every machine runs the same checks (a few minutes the first time, then
# cached). `--if-installed` (what make test runs) checks gofmt, and runs
# golangci-lint only when bin/tools already has it: building it in every
# fresh CI run would cost minutes of its time budget (CONTRIBUTING.md).
set -euo pipefail
cd "$(dirname "$0")/.."

GOLANGCI_LINT_VERSION="${GOLANGCI_LINT_VERSION:-v2.15.0}"
TOOLS="$PWD/bin/tools"
mkdir -p "$TOOLS"

if [ ! -x "$TOOLS/golangci-lint" ] && [ "${1:-}" != "--if-installed" ]; then
  echo "installing golangci-lint $GOLANGCI_LINT_VERSION into bin/tools" >&2
  GOBIN="$TOOLS" go install -ldflags="-s -w" \
    "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"
fi

echo "== gofmt"
unformatted="$(gofmt -l $(git ls-files '*.go'))"
if [ -n "$unformatted" ]; then
  echo "gofmt needed:"
  echo "$unformatted"
  exit 1
fi
echo "== golangci-lint"
if [ ! -x "$TOOLS/golangci-lint" ]; then
  echo "golangci-lint is not in bin/tools: skipped (make lint installs and runs it)"
  exit 0
fi
"$TOOLS/golangci-lint" run
