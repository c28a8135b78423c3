#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the whole test suite: installs the
# dependencies, builds, and runs unit tests and kernel tests (ctest -L bpf needs root:
# they load BPF programs and start real nginx, Python, Node and Prometheus processes),
# then the hardening stages (docs/hardening.md): the unit tests under ASan+UBSan, every
# fuzz target for a bounded time (same clang build), and the threaded tests under TSan.
# HOMEOSTAT_HARDENING=0 leaves the hardening stages out (a quick local run);
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
if [ "${HOMEOSTAT_HARDENING:-1}" = 0 ]; then
  echo "=== stages asan, fuzz, tsan: not run (HOMEOSTAT_HARDENING=0; docs/hardening.md) ==="
  exit 0
fi
sanitizers=1 fuzz=1
[ "${HOMEOSTAT_SKIP_SANITIZERS:-0}" = 1 ] && sanitizers=0 && echo "=== stages asan, tsan: skipped (HOMEOSTAT_SKIP_SANITIZERS=1) ==="
[ "${HOMEOSTAT_SKIP_FUZZ:-0}" = 1 ] && fuzz=0 && echo "=== stage fuzz: skipped (HOMEOSTAT_SKIP_FUZZ=1) ==="
# asan before fuzz: the fuzz targets are built in the same tree (build-asan) and reuse its
# libraries.
[ $sanitizers = 1 ] && stage asan bash scripts/sanitize.sh asan
[ $fuzz = 1 ] && stage fuzz env HOMEOSTAT_FUZZ_SECONDS="${HOMEOSTAT_FUZZ_SECONDS:-20}" bash scripts/fuzz.sh
[ $sanitizers = 1 ] && stage tsan bash scripts/sanitize.sh tsan
exit 0
