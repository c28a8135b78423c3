// Plain-text tables and the number formats the CLI's tables share (rates, latencies,
// percentages, sizes, durations): pure, so tests pin the exact output.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace homeostat::cli {

// Columns are sized to their widest cell; numeric columns (right = true) align right.
// Cells longer than `max_width` (when set) are cut with a trailing "~".
class Table {
public:
    struct Column {
        std::string header;
        bool right = false;
        std::size_t max_width = 0; // 0: no limit
    };
    explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    std::size_t size() const { return rows_.size(); }
    // Header, then one line per row; columns separated by two spaces, no trailing blanks.
    std::string render() const;

private:
    std::vector<Column> columns_;
    std::vector<std::vector<std::string>> rows_;
};

std::string format_rate(double per_second);      // "12.3/s", "0.05/s", "1.2k/s"
std::string format_seconds(double seconds);      // "850us", "12.3ms", "1.20s"; "-" when < 0
std::string format_percent(double ratio);        // 0.0734 -> "7.3%"
std::string format_bytes(double bytes);          // "12.3M"
std::string format_count(double n);              // integers as is, then "12.3k", "4.5M"

// "90s", "2m", "1h", "1.5h", "250ms", "3d", or a bare number of seconds.
std::optional<double> parse_duration(const std::string& s);

} // namespace homeostat::cli
