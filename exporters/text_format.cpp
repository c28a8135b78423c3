#include "exporters/text_format.h"

#include <cmath>

#include <fmt/format.h>

namespace homeostat::exporters::text {

// Prometheus rejects label values that are not UTF-8, and paths come from captured bytes.
// Each byte that does not start a well-formed sequence (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF) becomes U+FFFD, as Go's strings.ToValidUTF8 would.
std::string valid_utf8(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    const std::size_t n = in.size();
    std::size_t i = 0;
    while (i < n) {
        const unsigned char c = p[i];
        std::size_t len = 0;
        if (c < 0x80) {
            len = 1;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
        }
        bool ok = len != 0 && i + len <= n;
        for (std::size_t k = 1; ok && k < len; ++k)
            ok = (p[i + k] & 0xC0) == 0x80;
        if (ok && len >= 3) {
            const unsigned char c1 = p[i + 1];
            if (c == 0xE0)
                ok = c1 >= 0xA0; // overlong
            else if (c == 0xED)
                ok = c1 <= 0x9F; // UTF-16 surrogates
            else if (c == 0xF0)
                ok = c1 >= 0x90; // overlong
            else if (c == 0xF4)
                ok = c1 <= 0x8F; // above U+10FFFF
        }
        if (ok) {
            out.append(in.data() + i, len);
            i += len;
        } else {
            out += "\xEF\xBF\xBD";
            ++i;
        }
    }
    return out;
}

// Label value escaping of format 0.0.4: backslash, double quote and line feed.
void append_label_value(std::string& out, std::string_view v) {
    for (char c : v) {
        switch (c) {
        case '\\': out += "\\\\"; break;
        case '"': out += "\\\""; break;
        case '\n': out += "\\n"; break;
        default: out += c;
        }
    }
}

// HELP escaping: backslash and line feed only.
void append_help_text(std::string& out, std::string_view v) {
    for (char c : v) {
        switch (c) {
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        default: out += c;
        }
    }
}

// Shortest representation that parses back to the same double (Go's ParseFloat accepts
// fmt's "1e-05" style); the specials spelled the way Prometheus spells them.
std::string format_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", v);
}

} // namespace homeostat::exporters::text
