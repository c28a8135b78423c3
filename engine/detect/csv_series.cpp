#include "engine/detect/csv_series.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>

#include "engine/detect/ensemble.h"

namespace homeostat::engine::detect {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

std::string_view unquote(std::string_view s) {
    s = trim(s);
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = trim(s.substr(1, s.size() - 2));
    return s;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// Exactly `n` digits at s[pos..), as a number.
std::optional<int> digits(std::string_view s, std::size_t pos, std::size_t n) {
    if (pos + n > s.size()) return std::nullopt;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (!is_digit(s[i])) return std::nullopt;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

// ".123" at s[pos..): nanoseconds (digits beyond 9 are dropped), advancing pos.
std::optional<std::int64_t> fraction(std::string_view s, std::size_t& pos) {
    if (pos >= s.size() || s[pos] != '.') return 0;
    ++pos;
    std::int64_t ns = 0, scale = 100'000'000;
    const std::size_t start = pos;
    for (; pos < s.size() && is_digit(s[pos]); ++pos) {
        ns += (s[pos] - '0') * scale;
        scale /= 10;
    }
    if (pos == start) return std::nullopt;
    return ns;
}

constexpr std::int64_t kNs = 1'000'000'000;

// sec * 1e9 + ns without overflow, or nullopt.
std::optional<std::int64_t> to_ns(std::int64_t sec, std::int64_t ns) {
    constexpr std::int64_t lim = std::numeric_limits<std::int64_t>::max() / kNs - 1;
    if (sec > lim || sec < -lim) return std::nullopt;
    return sec * kNs + ns;
}

std::optional<std::int64_t> parse_unix(std::string_view s) {
    std::size_t pos = 0;
    const bool neg = !s.empty() && s[0] == '-';
    if (neg) ++pos;
    const std::size_t start = pos;
    std::int64_t sec = 0;
    for (; pos < s.size() && is_digit(s[pos]); ++pos) {
        if (pos - start >= 15) // 1e15 s is far outside the int64 nanosecond range anyway
            return std::nullopt;
        sec = sec * 10 + (s[pos] - '0');
    }
    if (pos == start) return std::nullopt;
    const auto ns = fraction(s, pos);
    if (!ns || pos != s.size()) return std::nullopt;
    const auto t = to_ns(sec, *ns);
    if (!t) return std::nullopt;
    return neg ? -*t : *t;
}

std::optional<std::int64_t> parse_civil(std::string_view s) {
    // YYYY-MM-DD[ T]HH:MM:SS[.f][Z|±HH:MM]
    const auto y = digits(s, 0, 4), mo = digits(s, 5, 2), d = digits(s, 8, 2);
    const auto h = digits(s, 11, 2), mi = digits(s, 14, 2), sec = digits(s, 17, 2);
    if (!y || !mo || !d || !h || !mi || !sec || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':')
        return std::nullopt;
    if (s[10] != ' ' && s[10] != 'T' && s[10] != 't') return std::nullopt;
    const std::chrono::year_month_day ymd{std::chrono::year(*y),
                                          std::chrono::month(static_cast<unsigned>(*mo)),
                                          std::chrono::day(static_cast<unsigned>(*d))};
    if (!ymd.ok() || *h > 23 || *mi > 59 || *sec > 60) // 60: a leap second
        return std::nullopt;
    std::size_t pos = 19;
    const auto ns = fraction(s, pos);
    if (!ns) return std::nullopt;
    std::int64_t offset = 0; // seconds east of UTC
    if (pos < s.size()) {
        // Whatever follows the seconds must be exactly a zone designator.
        if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) {
            offset = 0;
        } else if ((s[pos] == '+' || s[pos] == '-') && pos + 6 == s.size() && s[pos + 3] == ':') {
            const auto oh = digits(s, pos + 1, 2), om = digits(s, pos + 4, 2);
            if (!oh || !om || *oh > 23 || *om > 59) return std::nullopt;
            offset = (std::int64_t{*oh} * 3600 + std::int64_t{*om} * 60) * (s[pos] == '-' ? -1 : 1);
        } else {
            return std::nullopt;
        }
    }
    const std::int64_t days = std::chrono::sys_days(ymd).time_since_epoch().count();
    const std::int64_t secs = std::int64_t{*h} * 3600 + std::int64_t{*mi} * 60 + std::int64_t{*sec};
    return to_ns(days * 86400 + secs - offset, *ns);
}

std::optional<double> parse_value(std::string_view s) {
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    double v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
    return v;
}

} // namespace

std::optional<std::int64_t> parse_timestamp(std::string_view s) {
    s = trim(s);
    if (s.size() >= 19 && s[4] == '-') return parse_civil(s);
    return parse_unix(s);
}

std::vector<CsvRow> parse_csv(std::string_view text) {
    std::vector<CsvRow> rows;
    std::size_t line_no = 0;
    bool first = true;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        ++line_no;
        if (trim(line).empty()) continue;
        const auto comma = line.find(',');
        if (comma == std::string_view::npos)
            throw CsvError(line_no, "expected `timestamp,value`, found no comma");
        if (line.find(',', comma + 1) != std::string_view::npos)
            throw CsvError(line_no, "expected 2 fields, found more");
        const auto ts = unquote(line.substr(0, comma));
        const auto value = parse_value(unquote(line.substr(comma + 1)));
        const bool was_first = first;
        first = false;
        if (!value) {
            if (was_first) continue; // the header
            throw CsvError(line_no, "value '" + std::string(unquote(line.substr(comma + 1))) +
                                        "' is not a finite number");
        }
        const auto t = parse_timestamp(ts);
        if (!t)
            throw CsvError(line_no, "timestamp '" + std::string(ts) +
                                        "' is not `YYYY-MM-DD HH:MM:SS`, RFC 3339 or Unix seconds");
        rows.push_back(CsvRow{std::string(ts), *t, *value, line_no});
    }
    return rows;
}

std::vector<double> score_series(const std::vector<CsvRow>& rows, std::string_view detector) {
    auto d = make_detector(detector);
    if (!d) {
        std::string known;
        for (auto n : detector_names())
            known += (known.empty() ? "" : ", ") + std::string(n);
        throw std::invalid_argument("unknown detector '" + std::string(detector) + "' (known: " + known +
                                    ")");
    }
    std::vector<double> out;
    out.reserve(rows.size());
    for (const auto& r : rows)
        out.push_back(d->update(Point{r.t_ns, r.value}).score);
    return out;
}

std::string format_scores(const std::vector<CsvRow>& rows, const std::vector<double>& scores) {
    if (rows.size() != scores.size())
        throw std::invalid_argument("format_scores: rows and scores differ in size");
    std::string out = "timestamp,anomaly_score\n";
    out.reserve(out.size() + rows.size() * 32);
    char buf[64];
    for (std::size_t i = 0; i < rows.size(); ++i) {
        // to_chars, not printf: the decimal point must not depend on the locale.
        const auto res = std::to_chars(buf, buf + sizeof buf, scores[i], std::chars_format::fixed, 6);
        out += rows[i].timestamp;
        out += ',';
        out.append(buf, res.ptr);
        out += '\n';
    }
    return out;
}

} // namespace homeostat::engine::detect
