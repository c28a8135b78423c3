# Sourced by scripts/fuzz.sh and scripts/sanitize.sh: the one clang build both use,
# build-asan. Every C/C++ target there gets AddressSanitizer + UndefinedBehaviorSanitizer
# and libFuzzer's coverage instrumentation (-DHOMEOSTAT_FUZZ=ON, top-level CMakeLists.txt),
# so the unit tests and the fuzz targets share one compile of every library instead of
# two (the largest cost of the hardening stages). -O1 -g1 and asserts on: sanitizers want
# the code close to the source, and an assert is one more check. The BPF objects keep
# their own clang -target bpf flags.
configure_asan_build() {
  CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DHOMEOSTAT_FUZZ=ON -DHOMEOSTAT_BUILD_BENCH=OFF >/dev/null
}
