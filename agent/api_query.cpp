#include "agent/api_query.h"

#include <cmath>
#include <cstdlib>

namespace homeostat::agent {

std::optional<HttpResponse> parse_query(const std::string& query, const std::string& accepted,
                                        const std::function<bool(const std::string&)>& is_numeric,
                                        std::map<std::string, std::string>& text,
                                        std::map<std::string, double>& numbers) {
    constexpr const char* kText = "text/plain; charset=utf-8";
    std::size_t pos = 0;
    while (!query.empty() && pos <= query.size()) {
        const auto amp = query.find('&', pos);
        const std::string kv = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
        const auto eq = kv.find('=');
        const std::string k = kv.substr(0, eq), v = eq == std::string::npos ? "" : url_decode(kv.substr(eq + 1));
        if (!k.empty()) {
            if (accepted.find("," + k + ",") == std::string::npos)
                return HttpResponse{400, kText,
                                    "unknown parameter '" + k + "' (" + accepted.substr(1, accepted.size() - 2) + ")\n"};
            if (is_numeric(k)) {
                char* end = nullptr;
                const double x = std::strtod(v.c_str(), &end);
                if (v.empty() || *end != '\0' || !std::isfinite(x) || x < 0)
                    return HttpResponse{400, kText, k + " must be a non-negative number\n"};
                numbers[k] = x;
            } else
                text[k] = v;
        }
        if (amp == std::string::npos) break;
        pos = amp + 1;
    }
    return std::nullopt;
}

} // namespace homeostat::agent
