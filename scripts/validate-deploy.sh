#!/usr/bin/env bash
# Validates the deployment files offline (no Docker engine, no cluster):
#   - docker-compose.yml with Debian's docker-compose (1.29) `config`;
#   - deploy/ rendered with kustomize (base, every overlay, and the
#     Grafana dashboard's ConfigMap), then checked with kubectl-validate
#     against the Kubernetes schemas it carries, plus deploy/validation/crds
#     for the KEDA and Prometheus Operator kinds (subset schemas written
#     for this check: ScaledObject, TriggerAuthentication, ServiceMonitor,
#     PrometheusRule). The dashboard's JSON and every PromQL expression in
#     it and in the PrometheusRule are checked by internal/docscheck.
# Tools are installed on first use: docker-compose with apt-get, kustomize
# and kubectl-validate with `go install` into bin/tools (a few minutes the
# first time, then cached). `--tools-only` installs them and stops (make
# test runs that at low priority while the Go tests run).
set -euo pipefail
cd "$(dirname "$0")/.."

KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.8.0}"
KUBECTL_VALIDATE_VERSION="${KUBECTL_VALIDATE_VERSION:-v0.0.4}"
K8S_VERSION="${K8S_VERSION:-1.30}"
TOOLS="$PWD/bin/tools"
mkdir -p "$TOOLS"

if ! command -v docker-compose >/dev/null 2>&1; then
  echo "docker-compose not found: installing the Debian package" >&2
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker-compose >/dev/null
fi
if [ ! -x "$TOOLS/kustomize" ]; then
  echo "installing kustomize $KUSTOMIZE_VERSION into bin/tools" >&2
  GOBIN="$TOOLS" go install -ldflags="-s -w" "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi
if [ ! -x "$TOOLS/kubectl-validate" ]; then
  echo "installing kubectl-validate $KUBECTL_VALIDATE_VERSION into bin/tools" >&2
  GOBIN="$TOOLS" go install -ldflags="-s -w" "sigs.k8s.io/kubectl-validate@$KUBECTL_VALIDATE_VERSION"
fi
if [ "${1:-}" = "--tools-only" ]; then
  exit 0
fi

echo "== docker-compose config"
docker-compose -f docker-compose.yml config --quiet
echo "docker-compose.yml: valid"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for dir in deploy/base deploy/overlays/*/ deploy/grafana; do
  dir="${dir%/}"
  name="$(echo "$dir" | tr '/' '_')"
  echo "== kustomize build $dir"
  "$TOOLS/kustomize" build "$dir" > "$out/$name.yaml"
  echo "== kubectl-validate $dir (Kubernetes $K8S_VERSION)"
  "$TOOLS/kubectl-validate" "$out/$name.yaml" --version "$K8S_VERSION" --local-crds deploy/validation/crds
done
echo "deploy/: valid"
