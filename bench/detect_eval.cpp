// Prints the detector evaluation table of docs/detection.md (engine/detect/evaluation.h):
// every detector on every generated family, event-based precision, recall, F1 and delay.
//
//   cmake --build build --target detect_eval && build/bench/detect_eval [SERIES_PER_FAMILY]
#include <cstdio>
#include <cstdlib>

#include "engine/detect/evaluation.h"

int main(int argc, char** argv) {
    namespace eval = homeostat::engine::detect::eval;
    const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : eval::kSeriesPerFamily;
    if (n == 0) {
        std::fprintf(stderr, "usage: detect_eval [SERIES_PER_FAMILY (default %zu)]\n", eval::kSeriesPerFamily);
        return 2;
    }
    std::fputs(eval::markdown(eval::evaluate(n)).c_str(), stdout);
    return 0;
}
