#!/usr/bin/env bash
# Makes sure a Chromium is installed: the dashboard's browser test
# (internal/api TestDashboardInBrowser) drives it headless. Debian's
# package, like scripts/ensure-redis.sh does for redis-server.
set -euo pipefail
for b in chromium chromium-browser google-chrome headless-shell; do
  if command -v "$b" >/dev/null 2>&1; then
    exit 0
  fi
done
echo "chromium not found: installing the Debian package" >&2
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null
