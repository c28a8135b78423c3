#!/usr/bin/env bash
# The unit tests under sanitizers (docs/hardening.md):
#   build-asan: AddressSanitizer + UndefinedBehaviorSanitizer (leaks included), clang, the
#               build scripts/fuzz.sh uses too (scripts/lib/asan-build.sh); every
#               GoogleTest of the unit tier (ctest -L unit; the packaging tests, which
#               check files rather than code and build the .deb, stay in the main build);
#   build-tsan: ThreadSanitizer, the tests whose code shares data between threads.
# Any report fails the test that triggered it (-fno-sanitize-recover=all, halt_on_error).
#   bash scripts/sanitize.sh [asan|tsan]...     (default: both)
# Env: HOMEOSTAT_SANITIZE_JOBS (build jobs, default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${HOMEOSTAT_SANITIZE_JOBS:-$(nproc)}
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(asan tsan)
# The daemon runs one io_context; threads are met in the HTTP server test (its io_context
# runs on a second thread), in HttpClient (Asio resolves host names on a private thread)
# and in healing (actuators run on a worker thread and post results back).
tsan_tests=(http_api_test http_client_test healing_test)
tsan_regex='^(HttpApiTest|HttpApiAddress|UrlDecode|HttpClientTest|HealingTest)\.'

source scripts/lib/asan-build.sh
configure() { # dir sanitizers
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHOMEOSTAT_SANITIZE="$2" \
    -DHOMEOSTAT_BUILD_BENCH=OFF >/dev/null
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
for s in "${stages[@]}"; do
  case $s in
  asan)
    echo "--- sanitize: ASan+UBSan build (build-asan, targets unit_tests homeostat: the CLI for cli_detect)"
    configure_asan_build
    cmake --build build-asan -j "$jobs" --target unit_tests homeostat
    echo "--- sanitize: ASan+UBSan ctest -L unit"
    ctest --test-dir build-asan -L unit -E '^packaging_' --output-on-failure -j "$(nproc)"
    ;;
  tsan)
    echo "--- sanitize: TSan build (build-tsan: ${tsan_tests[*]})"
    configure build-tsan thread
    cmake --build build-tsan -j "$jobs" --target "${tsan_tests[@]}"
    echo "--- sanitize: TSan ctest"
    ctest --test-dir build-tsan -L unit -R "$tsan_regex" --output-on-failure
    ;;
  *) echo "sanitize.sh: unknown stage $s (asan or tsan)" >&2; exit 2 ;;
  esac
done
echo "sanitize.sh: ${stages[*]}: no sanitizer report"
