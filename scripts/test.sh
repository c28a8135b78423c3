#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the whole test suite: installs the
# dependencies, builds, and runs unit tests and kernel tests (ctest -L bpf needs root:
# they load BPF programs and start real nginx, Python, Node and Prometheus processes).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "test.sh: run as root: the kernel tests load eBPF programs (sudo bash scripts/test.sh)" >&2
  exit 1
fi
[ "${HOMEOSTAT_SKIP_DEPS:-0}" = 1 ] || bash scripts/install-deps.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
