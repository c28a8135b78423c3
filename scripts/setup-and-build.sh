#!/usr/bin/env bash
# Shared first half of start.sh and test.sh: as root, install the Debian packages
# (skipped with HOMEOSTAT_SKIP_DEPS=1) and build into ./build.
#   bash scripts/setup-and-build.sh WHO WHY
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "$1: run as root: $2 (sudo bash scripts/$1)" >&2
  exit 1
fi
[ "${HOMEOSTAT_SKIP_DEPS:-0}" = 1 ] || bash scripts/install-deps.sh
bash scripts/build.sh
