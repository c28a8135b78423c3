// `homeostat detect`: the CSV reader, then the default ensemble over what parsed and the
// output formatting. Only CsvError may come out of parse_csv.
#include <cmath>
#include <cstdlib>
#include <string_view>

#include "engine/detect/csv_series.h"

using namespace homeostat::engine::detect;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)parse_timestamp(text.substr(0, 64));
    std::vector<CsvRow> rows;
    try {
        rows = parse_csv(text);
    } catch (const CsvError& e) {
        if (e.line() == 0) std::abort(); // lines are 1-based
        return 0;
    }
    for (const auto& r : rows)
        if (!std::isfinite(r.value) || r.line == 0) std::abort();
    const auto scores = score_series(rows);
    if (scores.size() != rows.size()) std::abort();
    for (double s : scores)
        if (!(s >= 0 && s <= 1)) std::abort();
    (void)format_scores(rows, scores);
    return 0;
}
