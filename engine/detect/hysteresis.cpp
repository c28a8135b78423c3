#include "engine/detect/hysteresis.h"

#include <algorithm>
#include <stdexcept>

namespace homeostat::engine::detect {

std::string_view severity_name(Severity s) {
    switch (s) {
    case Severity::none: return "none";
    case Severity::warning: return "warning";
    case Severity::critical: return "critical";
    }
    return "none";
}

Hysteresis::Hysteresis(HysteresisConfig c) : config_(c) {
    auto unit = [](double x) { return x >= 0 && x <= 1; };
    if (!unit(c.open_threshold) || !unit(c.close_threshold) || !unit(c.critical_threshold) ||
        c.close_threshold > c.open_threshold || c.open_threshold > c.critical_threshold ||
        c.open_points == 0 || c.close_points == 0)
        throw std::invalid_argument("hysteresis: need 0 <= close <= open <= critical <= 1 and "
                                    "open_points, close_points >= 1");
}

Hysteresis::Step Hysteresis::step(double s, std::int64_t t_ns) {
    Step r;
    if (!open_) {
        if (s >= config_.open_threshold) {
            if (above_++ == 0) run_start_ns_ = t_ns;
            if (above_ >= config_.open_points) {
                open_ = true;
                r.opened = true;
                since_ns_ = run_start_ns_;
                peak_ = 0;
                severity_ = Severity::warning;
                below_ = 0;
                above_ = 0;
            }
        } else {
            above_ = 0;
        }
    }
    if (open_) {
        peak_ = std::max(peak_, s);
        if (s >= config_.critical_threshold) severity_ = Severity::critical;
        if (s < config_.close_threshold) {
            if (++below_ >= config_.close_points) {
                // severity, since and peak stay readable: they describe what resolved.
                open_ = false;
                r.resolved = true;
                below_ = 0;
            }
        } else {
            below_ = 0;
        }
    }
    return r;
}

nlohmann::json Hysteresis::save_state() const {
    return {{"above", above_},   {"below", below_},
            {"run_start_ns", run_start_ns_}, {"open", open_},
            {"severity", static_cast<int>(severity_)}, {"since_ns", since_ns_},
            {"peak", peak_}};
}

void Hysteresis::load_state(const nlohmann::json& st) {
    const int sev = st.at("severity").get<int>();
    if (sev < 0 || sev > static_cast<int>(Severity::critical))
        throw std::invalid_argument("hysteresis: bad severity");
    above_ = st.at("above").get<std::uint32_t>();
    below_ = st.at("below").get<std::uint32_t>();
    run_start_ns_ = st.at("run_start_ns").get<std::int64_t>();
    open_ = st.at("open").get<bool>();
    severity_ = static_cast<Severity>(sev);
    since_ns_ = st.at("since_ns").get<std::int64_t>();
    peak_ = st.at("peak").get<double>();
}

} // namespace homeostat::engine::detect
