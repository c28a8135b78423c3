// Offline scoring (`homeostat detect`): a `timestamp,value` CSV in, one anomaly score per
// row out, computed by exactly the detectors the daemon runs live.
//
// Input: one row per line, two comma-separated fields (each may be double-quoted, spaces
// around them are ignored), LF or CRLF line ends, blank lines skipped. The first non-blank
// line is a header if its value field is not a number. Timestamps, all taken as UTC:
//   - `2014-04-01 00:00:00` (NAB style), optionally with fractional seconds;
//   - RFC 3339: `2014-04-01T00:00:00Z`, `2014-04-01T00:00:00.5+02:00`;
//   - Unix seconds, integer or decimal: `1396310400`, `1396310400.25`.
// Values must be finite numbers. Any other row is an error that names its line (1-based,
// counting every line of the input, header and blank lines included).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace homeostat::engine::detect {

struct CsvRow {
    std::string timestamp; // as written, so output rows can repeat it verbatim
    std::int64_t t_ns = 0; // Unix time in nanoseconds
    double value = 0;
    std::size_t line = 0;
};

class CsvError : public std::runtime_error {
public:
    CsvError(std::size_t line, const std::string& what)
        : std::runtime_error("line " + std::to_string(line) + ": " + what), line_(line) {}
    std::size_t line() const { return line_; }

private:
    std::size_t line_;
};

// Unix nanoseconds of a timestamp in one of the formats above, nullopt if it is none of
// them (or out of the range of int64 nanoseconds, years ~1678-2262).
std::optional<std::int64_t> parse_timestamp(std::string_view s);

// Throws CsvError.
std::vector<CsvRow> parse_csv(std::string_view text);

// Scores the rows, in order, with a fresh make_detector(detector) ("ensemble" is the
// default ensemble). One score in [0,1] per row. Throws std::invalid_argument on an
// unknown detector name.
std::vector<double> score_series(const std::vector<CsvRow>& rows, std::string_view detector = "ensemble");

// `timestamp,anomaly_score` with a header, the input's timestamps verbatim, scores with
// 6 decimals. rows and scores must have the same size (std::invalid_argument otherwise).
std::string format_scores(const std::vector<CsvRow>& rows, const std::vector<double>& scores);

} // namespace homeostat::engine::detect
