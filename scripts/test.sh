#!/usr/bin/env bash
# `make test`: go vet, every Go test, gofmt (and golangci-lint when `make
# lint` has installed it), the offline validation of the deployment files,
# and the AsyncAPI parser's check of docs/asyncapi.yaml. The validation
# tools take minutes to build or install the first time, so they are
# installed at the lowest CPU priority while the tests run (the tests keep
# the CPU when both want it), one after the other (both may use apt-get),
# and the checks themselves run after the tests.
set -uo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
PKGS="${PKGS:-./...}"

mkdir -p bin
tools_log="bin/validate-tools.log"
(
  nice -n 19 ./scripts/validate-deploy.sh --tools-only &&
    nice -n 19 ./scripts/validate-asyncapi.sh --tools-only
) > "$tools_log" 2>&1 &
tools_pid=$!

rc=0
$GO vet $PKGS || rc=1
if [ $rc -eq 0 ]; then
  $GO test -count=1 -timeout 30m $PKGS || rc=1
  # The crash tests' self-kill switch exists only in a faultinject build.
  $GO test -count=1 -tags faultinject ./cmd/consumer || rc=1
fi

if ! wait "$tools_pid"; then
  echo "installing the validation tools failed:" >&2
  cat "$tools_log" >&2
  exit 1
fi
./scripts/lint.sh --if-installed || rc=1
./scripts/validate-deploy.sh || rc=1
./scripts/validate-asyncapi.sh || rc=1
exit $rc
