#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the whole test suite: installs the
# dependencies, builds, and runs unit tests and kernel tests (ctest -L bpf needs root:
# they load BPF programs and start real nginx, Python, Node and Prometheus processes),
# then, with HOMEOSTAT_HARDENING=1, the hardening stages (docs/hardening.md): every fuzz
# target for a bounded time, and the unit tests under ASan+UBSan and TSan. They are not
# yet on by default: their build time on a CI machine is still being measured.
# HOMEOSTAT_SKIP_FUZZ=1 and HOMEOSTAT_SKIP_SANITIZERS=1 leave one of them out;
# HOMEOSTAT_FUZZ_SECONDS sets the time per fuzz target (20 here).
set -euo pipefail
cd "$(dirname "$0")/.."

stage() { # name command...
  local name=$1 start=$SECONDS
  shift
  echo
  echo "=== homeostat test stage: $name ==="
  if "$@"; then
    echo "=== stage $name: PASSED ($((SECONDS - start)) s) ==="
  else
    echo "=== stage $name: FAILED ($((SECONDS - start)) s) ===" >&2
    exit 1
  fi
}

stage build bash scripts/setup-and-build.sh test.sh "the kernel tests load eBPF programs"
stage ctest ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
if [ "${HOMEOSTAT_HARDENING:-0}" != 1 ]; then
  echo "=== stages fuzz, sanitizers: not run (HOMEOSTAT_HARDENING=1 runs them; docs/hardening.md) ==="
  exit 0
fi
if [ "${HOMEOSTAT_SKIP_FUZZ:-0}" = 1 ]; then
  echo "=== stage fuzz: skipped (HOMEOSTAT_SKIP_FUZZ=1) ==="
else
  stage fuzz env HOMEOSTAT_FUZZ_SECONDS="${HOMEOSTAT_FUZZ_SECONDS:-20}" bash scripts/fuzz.sh
fi
if [ "${HOMEOSTAT_SKIP_SANITIZERS:-0}" = 1 ]; then
  echo "=== stage sanitizers: skipped (HOMEOSTAT_SKIP_SANITIZERS=1) ==="
else
  stage sanitizers bash scripts/sanitize.sh
fi
