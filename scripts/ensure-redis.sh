#!/usr/bin/env bash
# Makes sure redis-server (and redis-cli) are installed: the tests start
# their own instances on free loopback ports, so nothing else is needed.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
  exit 0
fi
echo "redis-server not found: installing the Debian package" >&2
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
# The package may start a system instance on 6379; the tests do not use it.
command -v redis-server >/dev/null
