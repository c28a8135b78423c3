#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the whole test suite: installs the
# dependencies, builds, and runs unit tests and kernel tests (ctest -L bpf needs root:
# they load BPF programs and start real nginx, Python, Node and Prometheus processes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-and-build.sh test.sh "the kernel tests load eBPF programs"
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
