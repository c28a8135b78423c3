#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan+UBSan) into ./build-asan (the
# build scripts/sanitize.sh runs the unit tests in: scripts/lib/asan-build.sh) and runs each for a bounded time on a copy of its checked-in corpus. Fails if any target
# crashes, leaks, times out or hits the memory limit; the input that did it is saved in
# build-asan/crashes/<target>/ (and named in the output). docs/hardening.md.
#   bash scripts/fuzz.sh [target...]      (default: every target)
# Env: HOMEOSTAT_FUZZ_SECONDS (30 per target), HOMEOSTAT_FUZZ_JOBS (build jobs, nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${HOMEOSTAT_FUZZ_SECONDS:-30}
jobs=${HOMEOSTAT_FUZZ_JOBS:-$(nproc)}
all=(request_target route_templater csv_detect config events alert_response)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

source scripts/lib/asan-build.sh
configure_asan_build
cmake --build build-asan -j "$jobs" --target "${targets[@]/#/fuzz_}"

failed=()
for t in "${targets[@]}"; do
  bin=build-asan/tests/fuzz/fuzz_$t
  work=build-asan/corpus/$t crashes=build-asan/crashes/$t
  # A copy: new inputs the run finds must not land in the checked-in corpus.
  rm -rf "$work"
  mkdir -p "$work" "$crashes"
  cp tests/fuzz/corpus/"$t"/* "$work"/
  dict=()
  [ -f tests/fuzz/dict/"$t".dict ] && dict=(-dict=tests/fuzz/dict/"$t".dict)
  echo "--- fuzz $t: ${seconds}s, corpus of $(ls "$work" | wc -l) inputs"
  # Regressions first: every input that once crashed must pass (one run each).
  if compgen -G "tests/fuzz/regressions/$t/*" >/dev/null &&
     ! "$bin" -runs=0 tests/fuzz/regressions/"$t"/* >"$crashes/regressions.log" 2>&1; then
    echo "FAIL fuzz $t: a regression input crashes again (log: $crashes/regressions.log)"
    tail -n 30 "$crashes/regressions.log"
    failed+=("$t")
    continue
  fi
  if "$bin" "$work" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -max_len=4096 -print_final_stats=1 -artifact_prefix="$crashes/" >"$crashes/fuzz.log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$crashes/fuzz.log" | tr '\n' ' '
    echo
  else
    echo "FAIL fuzz $t: crashing input saved in $crashes/ (log: $crashes/fuzz.log):"
    ls "$crashes" | grep -v '\.log$' || true
    grep -A 25 -m 1 -E 'ERROR: |runtime error|deadly signal' "$crashes/fuzz.log" || tail -n 30 "$crashes/fuzz.log"
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, no crash"
