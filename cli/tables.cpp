#include "cli/tables.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace homeostat::cli {
namespace {

std::string fmt(const char* f, double v, const char* unit) {
    char buf[48];
    std::snprintf(buf, sizeof buf, f, v, unit);
    return buf;
}

std::string cut(const std::string& s, std::size_t max_width) {
    if (max_width == 0 || s.size() <= max_width) return s;
    return s.substr(0, max_width - 1) + "~";
}

} // namespace

std::string Table::render() const {
    std::vector<std::size_t> width(columns_.size());
    for (std::size_t c = 0; c < columns_.size(); ++c) width[c] = cut(columns_[c].header, columns_[c].max_width).size();
    for (const auto& r : rows_)
        for (std::size_t c = 0; c < columns_.size() && c < r.size(); ++c)
            width[c] = std::max(width[c], cut(r[c], columns_[c].max_width).size());
    std::string out;
    auto line = [&](auto cell) {
        std::string l;
        for (std::size_t c = 0; c < columns_.size(); ++c) {
            const std::string s = cut(cell(c), columns_[c].max_width);
            const std::string pad(width[c] - s.size(), ' ');
            if (c) l += "  ";
            l += columns_[c].right ? pad + s : s + pad;
        }
        while (!l.empty() && l.back() == ' ') l.pop_back();
        out += l + "\n";
    };
    line([&](std::size_t c) { return columns_[c].header; });
    for (const auto& r : rows_) line([&](std::size_t c) { return c < r.size() ? r[c] : std::string(); });
    return out;
}

std::string format_rate(double r) {
    if (r >= 1000) return fmt("%.1fk%s", r / 1000, "/s");
    if (r >= 10) return fmt("%.0f%s", r, "/s");
    if (r >= 1) return fmt("%.1f%s", r, "/s");
    return fmt("%.2f%s", r, "/s");
}

std::string format_seconds(double s) {
    if (s < 0 || !std::isfinite(s)) return "-";
    if (s >= 1) return fmt("%.2f%s", s, "s");
    if (s >= 0.001) return fmt(s >= 0.1 ? "%.0f%s" : "%.1f%s", s * 1000, "ms");
    return fmt("%.0f%s", s * 1e6, "us");
}

std::string format_percent(double ratio) { return fmt("%.1f%s", ratio * 100, "%"); }

std::string format_bytes(double b) {
    const char* units[] = {"B", "K", "M", "G", "T"};
    int u = 0;
    while (b >= 1024 && u < 4) b /= 1024, ++u;
    return fmt(u == 0 ? "%.0f%s" : "%.1f%s", b, units[u]);
}

std::string format_count(double n) {
    if (n >= 1e6) return fmt("%.1f%s", n / 1e6, "M");
    if (n >= 1e4) return fmt("%.1f%s", n / 1e3, "k");
    return fmt("%.0f%s", n, "");
}

std::optional<double> parse_duration(const std::string& s) {
    if (s.empty()) return std::nullopt;
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || !std::isfinite(v) || v < 0) return std::nullopt;
    const std::string unit = end;
    const double mult = unit.empty() || unit == "s" ? 1
                        : unit == "ms"               ? 0.001
                        : unit == "m"                ? 60
                        : unit == "h"                ? 3600
                        : unit == "d"                ? 86400
                                                     : -1;
    if (mult < 0) return std::nullopt;
    return v * mult;
}

} // namespace homeostat::cli
